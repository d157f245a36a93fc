/**
 * Results export for Python and other tools: CSV (pandas.read_csv), Arrow IPC file (pyarrow.ipc.open_file,
 * pandas.read_feather, polars.read_ipc) and JSON lines (pandas.read_json(lines=True)).
 * Written to a temp file and renamed, so a crash never leaves a truncated file under the final name.
 */
import path from 'node:path';
import * as aq from 'arquero';
import { writeFileAtomic } from './results-folder.js';

export type ExportFormat = 'csv' | 'arrow' | 'jsonl';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'arrow', 'jsonl'];

const EXTENSIONS: Record<string, ExportFormat> = {
  '.csv': 'csv',
  '.arrow': 'arrow',
  '.feather': 'arrow',
  '.ipc': 'arrow',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
};

/** The format named by a file's extension (.csv, .arrow/.feather/.ipc, .jsonl/.ndjson). */
export function formatFromPath(file: string): ExportFormat {
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) {
    throw new RangeError(`cannot tell the export format of '${file}' from its extension: use ${Object.keys(EXTENSIONS).join(', ')} or pass a format (${EXPORT_FORMATS.join(', ')})`);
  }
  return format;
}

/** One JSON object per row; non-finite numbers (NaN, Infinity) become null, as JSON has no such values. */
export function toJsonLines(table: aq.ColumnTable): string {
  const names = table.columnNames();
  const columns = names.map((n) => table.array(n) as ArrayLike<unknown>);
  const lines: string[] = [];
  for (let i = 0; i < table.numRows(); i++) {
    const row: Record<string, unknown> = {};
    names.forEach((n, j) => {
      const v = columns[j][i];
      row[n] = typeof v === 'number' && !Number.isFinite(v) ? null : v === undefined ? null : v;
    });
    lines.push(JSON.stringify(row));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * Writes `table` to `file` as CSV, Arrow IPC (file format) or JSON lines; the format defaults to the one the
 * extension names. Returns the format written.
 */
export function exportResults(table: aq.ColumnTable, file: string, format?: ExportFormat): ExportFormat {
  const chosen = format ?? formatFromPath(file);
  if (!EXPORT_FORMATS.includes(chosen)) throw new RangeError(`export format must be one of ${EXPORT_FORMATS.join(', ')}, got '${String(chosen)}'`);
  if (chosen === 'csv') writeFileAtomic(file, aq.toCSV(table));
  else if (chosen === 'arrow') writeFileAtomic(file, aq.toArrowIPC(table, { format: 'file' }));
  else writeFileAtomic(file, toJsonLines(table));
  return chosen;
}
