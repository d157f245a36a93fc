/**
 * Joins `clusterkv e2e` reports made in separate processes (each one or more configurations) into one:
 *   tsx bench/merge-e2e-runs.ts OUT.json [--failures FILE] RUN.json...
 * FILE lists processes that wrote no report, one per line: name<TAB>reason. Prints the markdown table of
 * bench/README.md. Why separate processes: kernel times on the H200 drift over a process's life
 * (bench/README.md), so every configuration is timed in at least three fresh processes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { e2eMarkdownTable, mergeE2eRuns } from '../src/model/engine/e2e-merge.js';
import { e2eMergedSchema, readE2eFile, type E2eMerged } from '../src/model/engine/e2e-report.js';

const args = process.argv.slice(2);
const out = args.shift();
let failuresFile: string | undefined;
const files: string[] = [];
while (args.length) {
  const a = args.shift()!;
  if (a === '--failures') failuresFile = args.shift();
  else files.push(a);
}
if (!out || files.length + (failuresFile ? 1 : 0) === 0) {
  console.error('usage: tsx bench/merge-e2e-runs.ts OUT.json [--failures FILE] RUN.json...');
  process.exit(1);
}
const failures: E2eMerged['failures'] = [];
const runs: E2eMerged['runs'] = [];
for (const file of files) {
  try {
    const r = readE2eFile(file, e2eMergedSchema);
    runs.push(...r.runs);
    failures.push(...r.failures.map((f) => ({ file: `${file}: ${f.file}`, reason: f.reason })));
  } catch (err) {
    failures.push({ file, reason: (err as Error).message });
  }
}
if (failuresFile && existsSync(failuresFile)) {
  for (const line of readFileSync(failuresFile, 'utf8').split('\n').filter((l) => l.trim())) {
    const [file, ...reason] = line.split('\t');
    failures.push({ file, reason: reason.join('\t') || 'no report' });
  }
}
const merged = mergeE2eRuns(runs, failures, `${runs.length} runs from ${files.length} report files (one process each); every configuration's speed-up is taken inside its process, then the median over processes`);
writeFileSync(out, `${JSON.stringify(e2eMergedSchema.parse(merged), null, 2)}\n`);
console.log(e2eMarkdownTable(merged));
if (failures.length) console.log(`\n${failures.length} failed: ${failures.map((f) => `${f.file} (${f.reason})`).join('; ')}`);
const counts = new Map<string, number>();
for (const r of merged.rows) counts.set(`${r.context}/${r.batch}`, r.processes);
console.log(`processes per (context/batch): ${[...counts.entries()].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
