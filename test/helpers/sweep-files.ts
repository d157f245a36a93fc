/** Sweep test helpers: a folder's files that must not depend on how it ran, and a trace with a spoiled layer. */
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TraceReader } from '../../src/trace/index.js';

/** A real failure for sweep tests: a NaN written into the first key of `layer` in place, so every unit of that layer fails when it reads it. */
export async function spoilLayer(file: string, layer: number): Promise<void> {
  const reader = await TraceReader.open(file);
  const entry = reader.tensors.get(`layers.${layer}.k`)!;
  await reader.close();
  const fd = openSync(file, 'r+');
  try {
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const dataStart = 8 + Number(head.readBigUInt64LE(0)); // safetensors: u64 header length, header, data
    const nan = Buffer.alloc(4);
    nan.writeFloatLE(Number.NaN, 0);
    writeSync(fd, nan, 0, 4, dataStart + entry.begin);
  } finally {
    closeSync(fd);
  }
}

/** results.csv and every (cell, layer) file of a sweep folder, by name: what must be equal however it ran. */
export function folderFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = { 'results.csv': readFileSync(path.join(dir, 'results.csv'), 'utf8') };
  for (const cell of readdirSync(path.join(dir, 'cells'))) {
    for (const f of readdirSync(path.join(dir, 'cells', cell))) out[`${cell}/${f}`] = readFileSync(path.join(dir, 'cells', cell, f), 'utf8');
  }
  return out;
}
