/**
 * Joins `clusterkv bench` files made in separate fresh processes into one:
 *   tsx bench/merge-bench-runs.ts OUT.json RUN.json...
 * Main runs merge with main runs, each context of the sweeps with the same context; every timing becomes the
 * median over processes of its medians, each process's median kept (Timing.processes). Why: on the H200
 * kernel times drift over a process's life (bench/README.md), so each configuration runs in several fresh
 * processes and the spread between them is reported.
 */
import { writeFileSync } from 'node:fs';
import { mergeBenchFiles, readBenchFile } from '../src/sim/bench/bench-file.js';

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: tsx bench/merge-bench-runs.ts OUT.json RUN.json...');
  process.exit(1);
}
const merged = mergeBenchFiles(files.map(readBenchFile));
merged.timing = `${merged.timing}; merged from fresh processes: medians over processes, each process's median under 'processes'`;
writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
console.log(`merged ${files.length} files into ${out}: main ${merged.main ? 'yes' : 'no'}, contexts ${merged.contexts.map((c) => c.context).join(', ')}, up to ${merged.processes} processes per configuration`);
