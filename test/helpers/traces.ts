/** Small synthetic traces written to a temp folder for tests. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeSyntheticTrace, type SynthOptions } from '../../src/trace/index.js';

export function tempDir(prefix = 'ckv-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A small trace (2 layers, 4 heads, 2 KV heads, d 32, 768 tokens, 6 steps) unless overridden. */
export async function smallTrace(opts: Partial<SynthOptions> = {}, dir = tempDir()): Promise<string> {
  const file = path.join(dir, 'trace.safetensors');
  await writeSyntheticTrace(file, { layers: 2, heads: 4, kvHeads: 2, headDim: 32, context: 768, steps: 6, seed: 1, dtype: 'F32', ...opts });
  return file;
}
