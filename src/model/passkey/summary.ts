/**
 * The summary a person reads first: passkey accuracy per method variant (method plus the parameters that
 * vary among its rows) and budget, per context and over all, with the needle recall that explains it; and
 * every miss of dense attention (method full), named, since dense misses are the model's, not a method's.
 */
import * as aq from 'arquero';
import { methodParamNames } from '../../sim/methods/index.js';

/** Parameters (other than budget and seed) that take more than one value among some method's rows. */
export function varyingParams(table: aq.ColumnTable): string[] {
  const names = new Set(table.columnNames());
  const out = new Set<string>();
  for (const method of new Set(table.array('method') as string[])) {
    let takes: string[];
    try {
      takes = methodParamNames(method);
    } catch {
      continue;
    }
    const rows = table.filter(aq.escape((d: Record<string, unknown>) => d.method === method));
    for (const p of takes) {
      if (p === 'budget' || !names.has(p)) continue;
      if (new Set(rows.array(p) as unknown[]).size > 1) out.add(p);
    }
  }
  return [...out].sort();
}

/**
 * The columns that tell method variants apart (summary rows, figure series): method, then the parameters
 * that vary, ClusterKV's tokensPerCluster and scoring first.
 */
export function passkeyVariantColumns(table: aq.ColumnTable): string[] {
  const varying = varyingParams(table);
  const first = ['tokensPerCluster', 'scoring', 'clusters'].filter((c) => varying.includes(c));
  return ['method', ...first, ...varying.filter((c) => !first.includes(c))];
}

export interface AccuracySummary {
  /** columns in print order */
  columns: string[];
  rows: Record<string, unknown>[];
}

/**
 * One row per method variant and budget: accuracy per context ('acc@<context>'), over all documents
 * ('accuracy'), mean digits right, needle and key mass recall, and the document count.
 */
export function accuracySummary(table: aq.ColumnTable): AccuracySummary {
  const variant = passkeyVariantColumns(table).slice(1);
  const keys = ['method', ...variant, 'budget'];
  const contexts = [...new Set(table.array('context') as number[])].sort((a, b) => a - b);
  const overall = table
    .groupby(...keys)
    .rollup({ accuracy: aq.op.mean('correct'), digits: aq.op.mean('digitsCorrect'), needleMassRecall: aq.op.mean('needleMassRecall'), keyMassRecall: aq.op.mean('keyMassRecall'), documents: aq.op.count() })
    .objects() as Record<string, unknown>[];
  const perContext = table.groupby(...keys, 'context').rollup({ accuracy: aq.op.mean('correct') }).objects() as Record<string, unknown>[];
  const id = (r: Record<string, unknown>) => JSON.stringify(keys.map((k) => r[k] ?? null));
  const byContext = new Map<string, Record<string, number>>();
  for (const r of perContext) {
    const k = id(r);
    if (!byContext.has(k)) byContext.set(k, {});
    byContext.get(k)![`acc@${r.context}`] = Number(r.accuracy);
  }
  const methodOrder = [...new Set(table.array('method') as string[])];
  const rows = overall
    .map((r): Record<string, unknown> => ({ ...Object.fromEntries(keys.map((k) => [k, r[k] ?? null])), ...byContext.get(id(r)), accuracy: r.accuracy, digits: r.digits, needleMassRecall: r.needleMassRecall, keyMassRecall: r.keyMassRecall, documents: r.documents }))
    .sort((a, b) => {
      const m = methodOrder.indexOf(String(a.method)) - methodOrder.indexOf(String(b.method));
      if (m !== 0) return m;
      for (const k of [...variant, 'budget']) {
        const [x, y] = [a[k], b[k]];
        if (x !== y) return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      }
      return 0;
    });
  const contextColumns = contexts.map((c) => `acc@${c}`);
  return { columns: [...keys, ...(contexts.length > 1 ? contextColumns : []), 'accuracy', 'digits', 'needleMassRecall', 'keyMassRecall', 'documents'], rows };
}

export interface DenseMiss {
  document: string;
  key: string;
  expected: string;
  generated: string;
}

/** Documents that dense attention (method full) answered wrongly. */
export function denseMisses(table: aq.ColumnTable): DenseMiss[] {
  if (!(table.array('method') as string[]).includes('full')) return [];
  return (table.filter(aq.escape((d: Record<string, unknown>) => d.method === 'full' && Number(d.correct) !== 1)).objects() as Record<string, unknown>[]).map((r) => ({
    document: String(r.document),
    key: String(r.key),
    expected: String(r.expected),
    generated: String(r.generated),
  }));
}

/** Dense accuracy over the documents (undefined without method full). */
export function denseAccuracy(table: aq.ColumnTable): number | undefined {
  const full = table.filter(aq.escape((d: Record<string, unknown>) => d.method === 'full'));
  return full.numRows() ? (full.rollup({ a: aq.op.mean('correct') }).object() as { a: number }).a : undefined;
}
