/** A trace named on the command line, checked before a command selects a backend or computes anything. */
import { TraceReader } from '../trace/index.js';

/** Opens and closes `file` (the header only: container, manifest, tensor table); throws TraceError naming it. */
export async function checkTraceInput(file: string): Promise<void> {
  const reader = await TraceReader.open(file);
  await reader.close();
}
