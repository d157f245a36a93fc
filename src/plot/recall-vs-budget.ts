/**
 * Recall versus budget: mass recall (left) and top-k recall (right) per method variant (method and,
 * for ClusterKV, cluster count C0), mean line with a spread band over layers, heads and steps.
 * Input: a sweep table (tidy rows) with columns budget, massRecall, topkRecall and the seriesBy columns.
 */
import type * as aq from 'arquero';
import { BUDGET_AXIS_TITLE, budgetModeNote } from './budget-note.js';
import type { Figure } from './figure.js';
import { BAND_LABEL, flatSeriesOf, seriesOf, type Band } from './series.js';
import { bandLegendText, bandState, bandToggle, seriesTraces, type BandDisplay } from './series-traces.js';
import { axis, baseLayout, budgetAxis } from './style.js';

export interface RecallVsBudgetOptions {
  /** columns that split lines; the first is the method column [['method', 'clusters'] where present] */
  seriesBy?: string[];
  band?: Band;
  /** spread bands shown, hidden (one click away) or none ['auto': shown for up to 4 series] */
  bands?: BandDisplay;
  /** appended to the title, e.g. the trace name */
  subtitle?: string;
  id?: string;
}

export function defaultSeriesBy(table: aq.ColumnTable): string[] {
  return ['method', ...(table.columnNames().includes('clusters') ? ['clusters'] : [])];
}

export function recallVsBudgetFigure(table: aq.ColumnTable, opts: RecallVsBudgetOptions = {}): Figure {
  const seriesBy = opts.seriesBy ?? defaultSeriesBy(table);
  const band = opts.band ?? 'p10-p90';
  const bandLabel = BAND_LABEL[band];
  const panels = [
    { metric: 'massRecall', label: 'mass recall', x: 'x', y: 'y' },
    { metric: 'topkRecall', label: 'top-k recall', x: 'x2', y: 'y2' },
  ];
  const data = [];
  const budgets: number[] = [];
  let bands: ReturnType<typeof bandState> = 'none';
  for (const [i, p] of panels.entries()) {
    const series = seriesOf(table, 'budget', p.metric, seriesBy, band);
    bands = bandState(opts.bands, series.length);
    const xs = series.flatMap((s) => s.points.map((pt) => pt.x));
    budgets.push(...xs);
    const reference = flatSeriesOf(table, 'budget', p.metric, seriesBy);
    const xRange: [number, number] | undefined = xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined;
    data.push(...seriesTraces(series, reference, {
      xaxis: p.x, yaxis: p.y, showlegend: i === 0, metricLabel: p.label, bandLabel, xRange, bands,
    }));
  }
  const title = `Recall vs token budget, per method and cluster count${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1300;
  return {
    id: opts.id ?? 'recall-vs-budget',
    title,
    data,
    layout: baseLayout(title, {
      grid: { rows: 1, columns: 2, pattern: 'independent' },
      xaxis: budgetAxis(BUDGET_AXIS_TITLE, budgets),
      xaxis2: budgetAxis(BUDGET_AXIS_TITLE, budgets),
      yaxis: axis('mass recall (fraction of attention weight kept)', { range: [0, 1.02] }),
      yaxis2: axis('top-k recall (fraction of true top-|S| tokens kept)', { range: [0, 1.02] }),
      legend: { title: { text: `mean over layers × heads × steps;<br>${bandLegendText(bandLabel, bands)}` }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      updatemenus: [bandToggle(data)].filter(Boolean),
    }, budgetModeNote(table), width),
    width,
    height: 560,
  };
}
