/**
 * Rows of layers where a method really selects. Every budgeted method keeps its first `denseLayers` layers
 * dense (recall 1 by construction), so means over all layers flatter every method; summaries and curves
 * use these rows.
 */
import * as aq from 'arquero';
import { numberOrNull } from './cell-number.js';

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
