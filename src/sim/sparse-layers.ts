/**
 * Rows of layers where a method really selects. Every budgeted method keeps its first `denseLayers` layers
 * dense (recall 1 by construction), so means over all layers flatter every method; summaries and curves
 * use these rows.
 */
import * as aq from 'arquero';
import { numberOrNull } from './cell-number.js';
import type { Method } from './selector.js';

/**
 * Rows with layer >= denseLayers. The row's denseLayers column decides (sweep tables have it); rows without
 * one use `denseLayers` (e.g. DEFAULT_DENSE_LAYERS for replayTrace rows), and are kept whole when it is not
 * given either (method full has no denseLayers: all its layers are kept).
 */
export function sparseLayerRows(table: aq.ColumnTable, denseLayers?: number): aq.ColumnTable {
  if (!table.columnNames().includes('layer')) return table;
  const hasColumn = table.columnNames().includes('denseLayers');
  if (!hasColumn && denseLayers === undefined) return table;
  return table.filter(aq.escape((d: Record<string, unknown>) => {
    const dense = (hasColumn ? numberOrNull(d.denseLayers) : null) ?? denseLayers ?? null;
    return dense === null || Number(d.layer) >= dense;
  }));
}

/**
 * Refuses a replay (sweep, cachesim) whose budgeted methods select nowhere: every chosen layer is below their denseLayers, so
 * every row would be dense attention (recall 1) and every figure empty.
 */
export function checkSparseLayers(methods: readonly Method[], layers: readonly number[]): void {
  const budgeted = methods.filter((m) => Number.isFinite(m.budget));
  if (budgeted.length === 0) return;
  const sparse = budgeted.some((m) => layers.some((l) => l >= Number(m.params.denseLayers ?? 0)));
  if (!sparse) {
    const dense = Math.min(...budgeted.map((m) => Number(m.params.denseLayers ?? 0)));
    throw new RangeError(`every layer replayed (${layers.join(', ')}) is below denseLayers = ${dense}, so every budgeted method attends densely there: replay later layers (--layers) or add --param denseLayers=0`);
  }
}
