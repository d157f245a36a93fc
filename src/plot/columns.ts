/** Checks on input tables: every builder names the columns it needs, so a wrong table fails clearly. */
import type * as aq from 'arquero';
import { PlotError } from './errors.js';

export function requireColumns(table: aq.ColumnTable, columns: string[], what: string): void {
  const have = new Set(table.columnNames());
  const missing = columns.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new PlotError(`${what}: the table lacks column(s) ${missing.join(', ')} (has: ${[...have].join(', ') || 'none'})`);
  }
  if (table.numRows() === 0) throw new PlotError(`${what}: the table has no rows`);
}

export { numberOrNull } from '../sim/cell-number.js';
