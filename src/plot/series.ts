/**
 * Series of a sweep table: one line per method variant (method plus the parameters that vary, e.g.
 * ClusterKV's cluster count C0), aggregated per x value over layers, heads and steps into a centre
 * (mean) and a spread band (p10-p90 or the inter-quartile range).
 */
import * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';

export type Band = 'p10-p90' | 'iqr';

export const BAND_LABEL: Record<Band, string> = { 'p10-p90': 'p10–p90', iqr: 'IQR (p25–p75)' };
const BAND_QUANTILES: Record<Band, [number, number]> = { 'p10-p90': [0.1, 0.9], iqr: [0.25, 0.75] };

export interface SeriesPoint {
  x: number;
  mean: number;
  lo: number;
  hi: number;
  /** rows aggregated (layers x heads x steps) */
  n: number;
  /** the x value the rows were grouped by, where the point sits at another column's mean (seriesOf's `at`) */
  of?: number;
}

export interface Series {
  /** legend text, e.g. 'clusterkv C0=8' */
  label: string;
  method: string;
  /** values of the series columns other than method */
  params: Record<string, unknown>;
  points: SeriesPoint[];
}

// Closures go through aq.escape: arquero would otherwise parse their source, which tslab's CommonJS output renames.
function isFiniteValue(v: unknown): boolean {
  return numberOrNull(v) !== null;
}

/** Short names of parameters in legends. */
const PARAM_LABEL: Record<string, string> = { clusters: 'C0', tokensPerCluster: 'tpc' };

export function seriesLabel(method: string, params: Record<string, unknown>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${PARAM_LABEL[k] ?? k}=${v}`);
  return parts.length ? `${method} ${parts.join(' ')}` : method;
}

/**
 * Groups `table` by `seriesBy` (first column: method) and `x`, and summarises `metric`.
 * Rows whose metric or x is empty are left out. Series keep the order of first appearance,
 * points are sorted by x. With `at` (a column, e.g. tokensAttended), each group's point sits at the mean of
 * that column over its rows instead of at its x value: cells grouped by nominal budget, placed at what
 * they spent.
 */
export function seriesOf(table: aq.ColumnTable, x: string, metric: string, seriesBy: string[], band: Band, at?: string): Series[] {
  requireColumns(table, [x, metric, ...seriesBy, ...(at ? [at] : [])], `series of ${metric} by ${x}`);
  const [qlo, qhi] = BAND_QUANTILES[band];
  const valid = table.filter(aq.escape((d: Record<string, unknown>) => isFiniteValue(d[x]) && isFiniteValue(d[metric]) && (!at || isFiniteValue(d[at]))));
  const summary = valid
    .groupby(...seriesBy, x)
    .rollup({
      mean: aq.op.mean(metric),
      lo: aq.op.quantile(metric, qlo),
      hi: aq.op.quantile(metric, qhi),
      n: aq.op.count(),
      ...(at ? { at: aq.op.mean(at) } : {}),
    })
    .objects() as Record<string, unknown>[];
  const bySeries = new Map<string, Series>();
  for (const row of summary) {
    const params: Record<string, unknown> = {};
    for (const c of seriesBy.slice(1)) params[c] = row[c];
    const method = String(row[seriesBy[0]]);
    const key = JSON.stringify([method, params]);
    let s = bySeries.get(key);
    if (!s) {
      s = { label: seriesLabel(method, params), method, params, points: [] };
      bySeries.set(key, s);
    }
    const point: SeriesPoint = { x: numberOrNull(row[x])!, mean: Number(row.mean), lo: Number(row.lo), hi: Number(row.hi), n: Number(row.n) };
    s.points.push(at ? { ...point, x: Number(row.at), of: point.x } : point);
  }
  for (const s of bySeries.values()) s.points.sort((a, b) => a.x - b.x);
  return [...bySeries.values()];
}

/** Series with no budget (e.g. full attention): one value over every row, drawn as a reference line. */
export function flatSeriesOf(table: aq.ColumnTable, x: string, metric: string, seriesBy: string[]): Series[] {
  requireColumns(table, [x, metric, ...seriesBy], `reference lines of ${metric}`);
  const noX = table.filter(aq.escape((d: Record<string, unknown>) => !isFiniteValue(d[x]) && isFiniteValue(d[metric])));
  if (noX.numRows() === 0) return [];
  const rows = noX.groupby(seriesBy[0]).rollup({ mean: aq.op.mean(metric), n: aq.op.count() }).objects() as Record<string, unknown>[];
  return rows.map((r) => ({
    label: String(r[seriesBy[0]]),
    method: String(r[seriesBy[0]]),
    params: {},
    points: [{ x: Number.NaN, mean: Number(r.mean), lo: Number(r.mean), hi: Number(r.mean), n: Number(r.n) }],
  }));
}
