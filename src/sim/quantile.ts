/**
 * The one quantile of the project (every median, p10 and p90 of the benchmarks and their merges): linear
 * interpolation between the two order statistics around position q * (n - 1) of the sorted values (Hyndman
 * and Fan's type 7, the default of numpy, R, Python's statistics.quantiles(method='inclusive') and arquero's
 * op.quantile, which the plots' spread bands use). So the median of an even count is the mean of the two middle
 * values, and one of an odd count is the middle value itself.
 */

/** The q-quantile (0 <= q <= 1) of `values` (any order; not modified). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const s = [...values].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  // on an order statistic, or between two equal ones, return it (no arithmetic: keeps infinities exact)
  if (at === lo || s[lo] === s[lo + 1]) return s[lo];
  return s[lo] + (s[lo + 1] - s[lo]) * (at - lo);
}

/** The median: quantile(values, 0.5). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Per key of any of `records`, the median of its values, a record without the key counting 0 (no records: {}). */
export function medianPerKey(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, median(records.map((r) => r[k] ?? 0))]));
}
