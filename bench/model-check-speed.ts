/**
 * Tokens per second of model-check runs (bench/model-check.ts) made in separate fresh processes:
 *   tsx bench/model-check-speed.ts OUT.json RUN.json...
 * Per attention: prefill and decode tokens/s, the median over processes with each process's value kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { overProcesses, spreadText, type OverProcesses } from '../src/sim/bench/timing.js';

interface Run { attention: string; prefillTokensPerSecond: number; decodeTokensPerSecond: number }
const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: tsx bench/model-check-speed.ts OUT.json RUN.json...');
  process.exit(1);
}
const reports = files.map((file) => {
  const r = JSON.parse(readFileSync(file, 'utf8')) as { kind: string; backend: string; context: number; steps: number; runs: Run[] };
  if (r.kind !== 'clusterkv-model-check') throw new Error(`${file}: not a model-check report`);
  return r;
});
const attentions = reports[0].runs.map((r) => r.attention);
const rows = attentions.map((attention) => {
  const runs = reports.map((r) => r.runs.find((x) => x.attention === attention)!);
  return { attention, prefillTokensPerSecond: overProcesses(runs.map((r) => r.prefillTokensPerSecond)), decodeTokensPerSecond: overProcesses(runs.map((r) => r.decodeTokensPerSecond)) };
});
writeFileSync(out, `${JSON.stringify({ kind: 'clusterkv-model-check-speed', backend: reports[0].backend, context: reports[0].context, steps: reports[0].steps, processes: reports.length, rows }, null, 2)}\n`);
const show = (s: OverProcesses) => `${s.median.toFixed(1)} (${spreadText(s.processes, 1)})`;
for (const r of rows) console.log(`${r.attention}: prefill ${show(r.prefillTokensPerSecond)} tok/s, decode ${show(r.decodeTokensPerSecond)} tok/s over ${reports.length} processes`);
