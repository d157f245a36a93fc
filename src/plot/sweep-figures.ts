/**
 * The standard figures of a sweep (what `clusterkv plot DIR` renders and notebooks show): recall vs budget,
 * output error vs budget, a layer x head recall heatmap at the middle budget, and recall vs the tokens each
 * budget's cells attended on average (the equal-average-budget comparison).
 * Curves leave out the dense first layers (layer < denseLayers attends everything, so its recall is 1 by
 * construction and would flatter every method); the heatmap keeps them, so they stay visible.
 */
import * as aq from 'arquero';
import { errorVsBudgetFigure } from './error-vs-budget.js';
import type { Figure } from './figure.js';
import { recallHeatmapFigure } from './recall-heatmap.js';
import { recallVsBudgetFigure } from './recall-vs-budget.js';
import type { Band } from './series.js';
import type { BandDisplay } from './series-traces.js';

/** A sweep cell as recorded in DIR/manifest.json. */
export interface SweepCellRecord {
  method: string;
  params: Record<string, unknown>;
}

/**
 * Columns that split a method's lines: 'method', 'clusters' (if present), then every parameter that takes
 * more than one value among a method's cells (budget aside, it is the x axis).
 */
export function seriesColumns(table: aq.ColumnTable, cells: SweepCellRecord[] = []): string[] {
  const columns = table.columnNames();
  const out = ['method'];
  if (columns.includes('clusters')) out.push('clusters');
  const values = new Map<string, Set<string>>();
  for (const cell of cells) {
    for (const [name, value] of Object.entries(cell.params)) {
      const key = `${cell.method}\u0000${name}`;
      if (!values.has(key)) values.set(key, new Set());
      values.get(key)!.add(JSON.stringify(value));
    }
  }
  for (const [key, set] of values) {
    const name = key.split('\u0000')[1];
    if (set.size > 1 && name !== 'budget' && !out.includes(name) && columns.includes(name)) out.push(name);
  }
  return out;
}

export { sparseLayerRows } from '../sim/sparse-layers.js';
import { sparseLayerRows } from '../sim/sparse-layers.js';

export interface SweepFigureOptions {
  /** what was swept, e.g. the trace name; shown in titles */
  subtitle?: string;
  /** cells from the sweep manifest, to find the parameters that vary */
  cells?: SweepCellRecord[];
  band?: Band;
  /** spread bands shown, hidden (one click away) or none ['auto': shown for up to 4 series] */
  bands?: BandDisplay;
  /** budget of the heatmap [the middle budget] */
  heatmapBudget?: number;
  /** keep dense first layers in the curves [false] */
  includeDenseLayers?: boolean;
}

export function sweepFigures(table: aq.ColumnTable, opts: SweepFigureOptions = {}): Figure[] {
  const seriesBy = seriesColumns(table, opts.cells);
  const curves = opts.includeDenseLayers ? table : sparseLayerRows(table);
  const dropped = table.numRows() - curves.numRows();
  const layersNote = dropped > 0 ? 'dense first layers left out' : undefined;
  const subtitle = [opts.subtitle, layersNote].filter(Boolean).join('; ') || undefined;
  return [
    recallVsBudgetFigure(curves, { seriesBy, band: opts.band, bands: opts.bands, subtitle }),
    errorVsBudgetFigure(curves, { seriesBy, band: opts.band, bands: opts.bands, subtitle }),
    recallHeatmapFigure(table, { seriesBy, budget: opts.heatmapBudget, subtitle: opts.subtitle, id: 'heatmap-mass-recall' }),
    // the equal-average-budget comparison (results without the column predate it)
    ...(table.columnNames().includes('tokensAttended') ? [recallVsBudgetFigure(curves, { seriesBy, band: opts.band, bands: opts.bands, subtitle, against: 'attended' })] : []),
  ];
}
