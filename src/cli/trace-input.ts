/** A trace named on the command line, checked before a command selects a backend or computes anything. */
import { TraceReader, type TraceManifest } from '../trace/index.js';

/** Opens and closes `file` (the header only: container, manifest, tensor table); throws TraceError naming it. */
export async function checkTraceInput(file: string): Promise<TraceManifest> {
  const reader = await TraceReader.open(file);
  const manifest = reader.manifest;
  await reader.close();
  return manifest;
}
