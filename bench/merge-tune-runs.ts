/**
 * Joins `TUNE_SET=attention tune-kernels.ts` files made in separate fresh processes:
 *   tsx bench/merge-tune-runs.ts OUT.json RUN.json...
 * Each (kernel, context, variant) becomes the median over processes of its median kernel ms, each process's
 * median kept; prints the table of bench/README.md ("Decode attention, tuned"): median (min–max) per context.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { overProcesses, spreadText } from '../src/sim/bench/timing.js';

interface TuneRow { kernel: string; context: number; knob: string; value: string; ms: number }
const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: tsx bench/merge-tune-runs.ts OUT.json RUN.json...');
  process.exit(1);
}
const runs = files.map((file) => {
  const r = JSON.parse(readFileSync(file, 'utf8')) as { kind: string; set?: string; heatMs: number; rows: TuneRow[] };
  if (r.kind !== 'clusterkv-kernel-tuning' || r.set !== 'attention') throw new Error(`${file}: not a TUNE_SET=attention file of tune-kernels.ts`);
  return r;
});
const groups = new Map<string, { row: TuneRow; ms: number[] }>();
for (const run of runs) {
  for (const row of run.rows) {
    const key = JSON.stringify([row.kernel, row.context, row.value]);
    const g = groups.get(key) ?? { row, ms: [] };
    g.ms.push(row.ms);
    groups.set(key, g);
  }
}
const rows = [...groups.values()].map(({ row, ms }) => ({ kernel: row.kernel, context: row.context, variant: row.value, ...overProcesses(ms) }));
writeFileSync(out, `${JSON.stringify({ kind: 'clusterkv-kernel-tuning-merged', set: 'attention', heatMs: runs[0].heatMs, processes: runs.length, rows }, null, 2)}\n`);

const contexts = [...new Set(rows.map((r) => r.context))].sort((a, b) => a - b);
console.log(`| kernel | variant | ${contexts.map((c) => `${c / 1024}K`).join(' | ')} |`);
console.log(`|---|---|${contexts.map(() => '---|').join('')}`);
for (const kernel of [...new Set(rows.map((r) => r.kernel))]) {
  for (const variant of [...new Set(rows.filter((r) => r.kernel === kernel).map((r) => r.variant))]) {
    const cells = contexts.map((c) => {
      const r = rows.find((x) => x.kernel === kernel && x.variant === variant && x.context === c);
      return r ? `${r.median.toFixed(4)} (${spreadText(r.processes, 4)})` : '–';
    });
    console.log(`| ${kernel} | ${variant} | ${cells.join(' | ')} |`);
  }
}
