/**
 * Cross-backend check of a whole sweep: the same trace swept on two backends must give the same table.
 *   bench/run.ts compare-sweeps A/results.csv B/results.csv [--out F.json]
 * Rows are matched on (method, clusters, budget, layer, head, step); integer columns must be equal, float
 * metrics within 1e-4 absolute. Prints (and writes) the worst difference per method and metric; exit 1 on
 * a mismatch.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { csvTable } from '../../src/sim/csv-table.js';

const KEY = ['method', 'clusters', 'budget', 'layer', 'head', 'step'];
const FLOATS = ['massRecall', 'topkRecall', 'outputRelError', 'outputCosine'];
const INTEGERS = ['tokensAttended', 'tokensLoaded', 'density'];
const rowsOf = (file: string) => {
  const objects = csvTable(readFileSync(file, 'utf8')).objects() as Record<string, unknown>[];
  return new Map(objects.map((r) => [KEY.map((k) => String(r[k] ?? '')).join('|'), r]));
};
/** Compares two sweeps' results.csv; resolves to the exit code (1 on a mismatch). */
export function compareSweeps(fileA: string, fileB: string, out: string | undefined): number {
  const a = rowsOf(fileA);
  const b = rowsOf(fileB);
  const problems: string[] = [];
  if (a.size !== b.size) problems.push(`row counts differ: ${a.size} vs ${b.size}`);
  const worst: Record<string, Record<string, number>> = {};
  for (const [key, ra] of a) {
    const rb = b.get(key);
    if (!rb) {
      problems.push(`row ${key} only in ${fileA}`);
      continue;
    }
    const method = String(ra.method);
    worst[method] ??= {};
    for (const col of [...FLOATS, ...INTEGERS]) {
      if (ra[col] == null && rb[col] == null) continue;
      const diff = Math.abs(Number(ra[col]) - Number(rb[col]));
      worst[method][col] = Math.max(worst[method][col] ?? 0, diff);
      if (INTEGERS.includes(col) && col !== 'density' ? diff !== 0 : !(diff <= 1e-4)) problems.push(`${key} ${col}: ${ra[col]} vs ${rb[col]}`);
    }
  }
  const report = { a: fileA, b: fileB, rows: a.size, tolerance: 1e-4, worst, mismatches: problems.length, firstMismatches: problems.slice(0, 20) };
  console.log(JSON.stringify(report, null, 1));
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
  return problems.length ? 1 : 0;
}
