/**
 * Joins `clusterkv bench` reports made in separate processes into one report:
 *   tsx bench/merge-bench-runs.ts OUT.json MAIN.json CONTEXT_RUN.json...
 * MAIN gives `main` (the run at --context, with K-means); every CONTEXT_RUN (made with --no-main) adds its
 * context sweep entries; entries of one context and different budgets are joined into one. Why: on the
 * H200 kernel times drift upward over a process's life (bench/README.md), so each context and budget is
 * timed in a fresh process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { KernelBenchReport } from '../src/sim/bench/kernel-bench.js';

interface Report {
  kind: string;
  main: KernelBenchReport | null;
  contexts: { context: number; clusters: number; report: KernelBenchReport }[];
  [key: string]: unknown;
}

const [out, mainFile, ...contextFiles] = process.argv.slice(2);
if (!out || !mainFile) {
  console.error('usage: tsx bench/merge-bench-runs.ts OUT.json MAIN.json CONTEXT_RUN.json...');
  process.exit(1);
}
const read = (file: string): Report => {
  const r = JSON.parse(readFileSync(file, 'utf8')) as Report;
  if (r.kind !== 'clusterkv-kernel-bench') throw new Error(`${file}: not a clusterkv bench report (kind ${r.kind})`);
  return r;
};
const merged = read(mainFile);
if (!merged.main) throw new Error(`${mainFile}: has no main run`);
const byContext = new Map<number, Report['contexts'][number]>();
for (const file of contextFiles) {
  for (const entry of read(file).contexts) {
    const have = byContext.get(entry.context);
    if (!have) byContext.set(entry.context, structuredClone(entry));
    else have.report.budgets.push(...entry.report.budgets);
  }
}
merged.contexts = [...byContext.values()].sort((a, b) => a.context - b.context);
merged.timing = `${merged.timing}; each context and budget of the context sweep timed in its own process`;
writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
console.log(`merged ${contextFiles.length} context runs into ${out}: contexts ${merged.contexts.map((c) => `${c.context} (B ${c.report.budgets.map((b) => b.budget).join(', ')})`).join(', ')}`);
