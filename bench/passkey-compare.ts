/**
 * A passkey eval folder's accuracies against the committed study tables of the same grid (study/passkey-
 * tables.md, made by the CPU path: seed 0, ckvlab-passkey-9m, 5 depths x 4 keys per context): per context,
 * method and budget, the folder's accuracy and the table's, and which differ.
 *   tsx bench/passkey-compare.ts EVAL_DIR [--tables study/passkey-tables.md] [--out F.json]
 * Exit 1 when an accuracy differs (the GPU path decodes the same documents; K-means on another backend may
 * cluster differently, so a ClusterKV difference is reported with that caveat rather than hidden).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readPasskeyEvalFolder } from '../src/model/passkey/eval-folder.js';

const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { tables: { type: 'string', default: 'study/passkey-tables.md' }, out: { type: 'string' } } });
if (positionals.length !== 1) {
  console.error('usage: tsx bench/passkey-compare.ts EVAL_DIR [--tables study/passkey-tables.md] [--out F.json]');
  process.exit(2);
}
/** context -> method -> budget -> accuracy, from the '**context N**' tables of the passkey-accuracy section. */
function studyAccuracies(file: string): Map<number, Map<string, Map<number, number>>> {
  const text = readFileSync(file, 'utf8');
  const section = text.slice(text.indexOf('## passkey-accuracy'), text.indexOf('## passkey-digits'));
  const out = new Map<number, Map<string, Map<number, number>>>();
  for (const block of section.split('**context ').slice(1)) {
    const context = parseInt(block, 10);
    const lines = block.split('\n').filter((l) => l.startsWith('|'));
    const budgets = lines[0].split('|').slice(2, -1).map((c) => Number(c.trim().replace('B=', '')));
    const methods = new Map<string, Map<number, number>>();
    for (const line of lines.slice(2)) {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      methods.set(cells[0], new Map(budgets.map((b, i) => [b, Number(cells[i + 1])])));
    }
    out.set(context, methods);
  }
  return out;
}
const study = studyAccuracies(args.tables!);
const { table, manifest } = readPasskeyEvalFolder(positionals[0]);
const rows = table.objects() as { context: number; method: string; budget: number | null; correct: number }[];
const groups = new Map<string, { context: number; method: string; budget: number | null; correct: number; n: number }>();
for (const r of rows) {
  const key = `${r.context}|${r.method}|${r.budget}`;
  const g = groups.get(key) ?? { context: r.context, method: r.method, budget: r.budget, correct: 0, n: 0 };
  g.correct += Number(r.correct);
  g.n++;
  groups.set(key, g);
}
const compared = [...groups.values()].map((g) => {
  const perBudget = study.get(g.context)?.get(g.method);
  // full has no budget: the table repeats its one accuracy in every budget column
  const want = perBudget ? (g.budget === null ? [...perBudget.values()][0] : perBudget.get(g.budget)) : undefined;
  const got = g.correct / g.n;
  return { context: g.context, method: g.method, budget: g.budget, documents: g.n, accuracy: got, study: want ?? null, equal: want === undefined ? null : Math.abs(got - want) < 5e-4 };
});
const differ = compared.filter((c) => c.equal === false);
for (const c of compared) console.log(`${c.context}\t${c.method}\t${c.budget ?? '-'}\t${c.accuracy.toFixed(3)}\t${c.study === null ? 'not in the tables' : `study ${c.study.toFixed(3)}${c.equal ? '' : '  DIFFERS'}`}`);
console.log(`${compared.length - differ.length - compared.filter((c) => c.equal === null).length} of ${compared.length} accuracies equal the study's; ${differ.length} differ (${manifest.runtime ?? manifest.backend}, ${manifest.seconds ?? '?'} s)`);
if (args.out) writeFileSync(args.out, `${JSON.stringify({ kind: 'clusterkv-passkey-compare', folder: positionals[0], runtime: manifest.runtime ?? null, backend: manifest.backend, seconds: manifest.seconds ?? null, compared }, null, 2)}\n`);
if (differ.length) process.exitCode = 1;
