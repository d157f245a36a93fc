/**
 * Results tables, the one builder and CSV reader and writer of every results folder (sweeps: results-folder.ts;
 * passkey evals: model/passkey/eval-folder.ts):
 *   resultsTable  rows -> an arquero table whose columns are the schema's leading ones, then every other key
 *                 alphabetically (a row without a column gets null), so that every file of a kind has the
 *                 same columns in the same order
 *   resultsCsv    the CSV text of such a table
 *   csvTable      CSV text -> table, column types inferred from every row
 */
import * as aq from 'arquero';

/** A table of `rows` whose columns are `leading`, then the rows' other keys alphabetically (missing -> null). */
export function resultsTable(rows: readonly Record<string, unknown>[], leading: readonly string[]): aq.ColumnTable {
  const extra = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) if (!leading.includes(key)) extra.add(key);
  const columns = [...leading, ...[...extra].sort()];
  const data: Record<string, unknown[]> = {};
  for (const c of columns) data[c] = rows.map((r) => (r[c] === undefined ? null : r[c]));
  return aq.table(data);
}

/** The CSV text of resultsTable(rows, leading). */
export function resultsCsv(rows: readonly Record<string, unknown>[], leading: readonly string[]): string {
  return aq.toCSV(resultsTable(rows, leading));
}

export interface CsvTableOptions {
  /** columns read as written although they can look like numbers (a passkey '01234'); absent ones are ignored */
  textColumns?: readonly string[];
}

/**
 * CSV text to an arquero table with column types inferred from every row. arquero's default looks at the
 * first 1000 values only: a sweep's results.csv often starts with method full's rows, whose budget,
 * clusters and denseLayers are empty, and those columns then come back boolean. autoMax is the row count,
 * not a huge number: arquero's type check loops up to autoMax.
 */
export function csvTable(text: string, opts: CsvTableOptions = {}): aq.ColumnTable {
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  if (!opts.textColumns?.length) return aq.fromCSV(text, { autoMax: lines });
  const header = text.slice(0, Math.max(0, text.indexOf('\n'))).split(',');
  const parse = Object.fromEntries(opts.textColumns.filter((c) => header.includes(c)).map((c) => [c, (s: string) => s]));
  return aq.fromCSV(text, { autoMax: lines, parse });
}
