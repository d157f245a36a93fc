/**
 * Recall versus budget: mass recall (left) and top-k recall (right) per method variant (method and,
 * for ClusterKV, cluster count C0), mean line with a spread band over layers, heads and steps.
 * Input: a sweep table (tidy rows) with columns budget, massRecall, topkRecall and the seriesBy columns.
 *
 * `against: 'attended'` puts each budget's point at its mean tokensAttended (positions a query head attends,
 * the forced set included) instead of at B: the equal-average-budget comparison, where a method that spends
 * less than B (the top-p wrapper, InfiniGen's threshold) is compared with others at what it spent.
 */
import type * as aq from 'arquero';
import { BUDGET_AXIS_TITLE, budgetModeNote } from './budget-note.js';
import type { Figure } from './figure.js';
import { BAND_LABEL, flatSeriesOf, seriesOf, type Band } from './series.js';
import { bandLegendText, bandState, bandToggle, seriesTraces, type BandDisplay } from './series-traces.js';
import { axis, baseLayout, budgetAxis, logTicks } from './style.js';

export interface RecallVsBudgetOptions {
  /** columns that split lines; the first is the method column [['method', 'clusters'] where present] */
  seriesBy?: string[];
  band?: Band;
  /** spread bands shown, hidden (one click away) or none ['auto': shown for up to 4 series] */
  bands?: BandDisplay;
  /** appended to the title, e.g. the trace name */
  subtitle?: string;
  /** x axis: the nominal budget B ['budget'], or each budget's mean tokensAttended ('attended') */
  against?: 'budget' | 'attended';
  id?: string;
}

const ATTENDED_AXIS_TITLE = 'tokens attended per query head (mean of each budget\'s rows, log scale)';

export function defaultSeriesBy(table: aq.ColumnTable): string[] {
  return ['method', ...(table.columnNames().includes('clusters') ? ['clusters'] : [])];
}

export function recallVsBudgetFigure(table: aq.ColumnTable, opts: RecallVsBudgetOptions = {}): Figure {
  const seriesBy = opts.seriesBy ?? defaultSeriesBy(table);
  const attended = opts.against === 'attended';
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
    const series = seriesOf(table, 'budget', p.metric, seriesBy, band, attended ? 'tokensAttended' : undefined);
    bands = bandState(opts.bands, series.length);
    const xs = series.flatMap((s) => s.points.map((pt) => pt.x));
    budgets.push(...xs);
    const reference = flatSeriesOf(table, 'budget', p.metric, seriesBy);
    const xRange: [number, number] | undefined = xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined;
    data.push(...seriesTraces(series, reference, {
      xaxis: p.x, yaxis: p.y, showlegend: i === 0, metricLabel: p.label, bandLabel, xRange, bands, ...(attended ? { groupLabel: 'B' } : {}),
    }));
  }
  const title = `Recall vs ${attended ? 'tokens attended (each budget at its mean spend)' : 'token budget'}, per method and cluster count${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const xAxis = attended ? axis(ATTENDED_AXIS_TITLE, { type: 'log', ...logTicks(budgets) }) : budgetAxis(BUDGET_AXIS_TITLE, budgets);
  const width = 1300;
  return {
    id: opts.id ?? (attended ? 'recall-vs-attended' : 'recall-vs-budget'),
    title,
    data,
    layout: baseLayout(title, {
      grid: { rows: 1, columns: 2, pattern: 'independent' },
      xaxis: xAxis,
      xaxis2: xAxis,
      yaxis: axis('mass recall (fraction of attention weight kept)', { range: [0, 1.02] }),
      yaxis2: axis('top-k recall (fraction of true top-|S| tokens kept)', { range: [0, 1.02] }),
      legend: { title: { text: `mean over layers × heads × steps;<br>${bandLegendText(bandLabel, bands)}` }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      updatemenus: [bandToggle(data)].filter(Boolean),
    }, budgetModeNote(table), width),
    width,
    height: 560,
  };
}
