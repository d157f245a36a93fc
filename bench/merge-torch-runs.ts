/**
 * Joins torch_reference.py files made in separate fresh processes into one of the same shape:
 *   tsx bench/merge-torch-runs.ts OUT.json RUN.json...
 * Every timing ({median, p10, p90, runs}) becomes the median over processes of its medians, with each
 * process's median under `processes`, and every other number the median over processes (bench/results-tables.ts
 * reads the medians).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { overProcesses, spreadText, summarise } from '../src/sim/bench/timing.js';

type Json = number | string | boolean | null | Json[] | { [key: string]: Json };
const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: tsx bench/merge-torch-runs.ts OUT.json RUN.json...');
  process.exit(1);
}
const runs = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as Json);

const isTiming = (x: Json): x is { median: number; p10: number; p90: number; runs: number } => typeof x === 'object' && x !== null && !Array.isArray(x) && typeof x.median === 'number' && typeof x.runs === 'number';

/** The first run's structure with each timing replaced by the median over the runs at the same place. */
function merge(parts: Json[]): Json {
  const [first] = parts;
  if (isTiming(first)) {
    return { ...overProcesses(parts.map((p) => (p as { median: number }).median)), runs: first.runs };
  }
  if (typeof first === 'number') return summarise(parts as number[]).median;
  if (Array.isArray(first)) return first.map((_, i) => merge(parts.map((p) => (p as Json[])[i])));
  if (typeof first === 'object' && first !== null) return Object.fromEntries(Object.keys(first).map((k) => [k, merge(parts.map((p) => (p as Record<string, Json>)[k]))]));
  return first;
}
const merged = merge(runs) as Record<string, Json>;
merged.processes = runs.length;
writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
const rows = merged.rows as { context: number; denseFp32Ms: { processes: number[] }; sdpaFp16Ms: { processes: number[] }; clusterkvStep2048Ms: { processes: number[] } }[];
const spread = (t: { processes: number[] }) => spreadText(t.processes, 3);
for (const r of rows) console.log(`${r.context}: fp32 dense ${spread(r.denseFp32Ms)}, fp16 SDPA ${spread(r.sdpaFp16Ms)}, eager ClusterKV step B=2048 ${spread(r.clusterkvStep2048Ms)} ms`);
console.log(`K-means ${spread((merged.kmeans as { ms: { processes: number[] } }).ms)} ms; merged ${runs.length} runs into ${out}`);
