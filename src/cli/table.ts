/**
 * Plain-text tables for the terminal: right-aligned numbers, fixed decimals. A column with any fractional
 * number shows every number with the decimals (a recall of exactly 1 reads 1.000 beside 0.987); a column of
 * integers (budgets, counts) shows integers.
 */
export function formatTable(rows: Record<string, unknown>[], columns: string[], decimals = 3): string {
  const fractional = new Set(columns.filter((c) => rows.some((r) => typeof r[c] === 'number' && !Number.isInteger(r[c]))));
  const cell = (v: unknown, c: string) => (v === null || v === undefined ? '' : typeof v === 'number' ? (fractional.has(c) && Number.isFinite(v) ? v.toFixed(decimals) : String(v)) : String(v));
  const body = rows.map((r) => columns.map((c) => cell(r[c], c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((s, i) => s.padStart(widths[i])).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** `n noun` with the noun's plural unless n is 1: "1 cell", "6 cells" (`plural` for irregular nouns). */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
