/**
 * Output error versus budget: relative error ||o_S - o|| / ||o|| of the sparse attention output per method
 * variant, mean line with a spread band over layers, heads and steps; log y axis (errors span decades).
 * Input: a sweep table with columns budget, outputRelError and the seriesBy columns.
 */
import type * as aq from 'arquero';
import { BUDGET_AXIS_TITLE, budgetModeNote } from './budget-note.js';
import type { Figure } from './figure.js';
import { defaultSeriesBy } from './recall-vs-budget.js';
import { BAND_LABEL, flatSeriesOf, seriesOf, type Band } from './series.js';
import { bandLegendText, bandState, bandToggle, seriesTraces, type BandDisplay } from './series-traces.js';
import { axis, baseLayout, budgetAxis, logTicks } from './style.js';

export interface ErrorVsBudgetOptions {
  seriesBy?: string[];
  band?: Band;
  /** spread bands shown, hidden (one click away) or none ['auto': shown for up to 4 series] */
  bands?: BandDisplay;
  subtitle?: string;
  id?: string;
}

export function errorVsBudgetFigure(table: aq.ColumnTable, opts: ErrorVsBudgetOptions = {}): Figure {
  const seriesBy = opts.seriesBy ?? defaultSeriesBy(table);
  const band = opts.band ?? 'p10-p90';
  const bandLabel = BAND_LABEL[band];
  const series = seriesOf(table, 'budget', 'outputRelError', seriesBy, band);
  // A log axis cannot show zero (e.g. oracle at a budget that covers the context): floor the band at the
  // smallest positive value so the range stays readable.
  const positive = series.flatMap((s) => s.points.flatMap((p) => [p.lo, p.mean])).filter((v) => v > 0);
  const floor = positive.length ? Math.min(...positive) : 1e-6;
  for (const s of series) for (const p of s.points) p.lo = Math.max(p.lo, floor);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  // Full attention has zero error, which a log axis cannot show: no reference lines here.
  const reference = flatSeriesOf(table, 'budget', 'outputRelError', seriesBy).filter((r) => r.points[0].mean > 0);
  const bands = bandState(opts.bands, series.length);
  const data = seriesTraces(series, reference, {
    metricLabel: 'relative error', bandLabel, xRange: xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined, bands,
  });
  const title = `Attention output error vs token budget, per method and cluster count${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1000;
  return {
    id: opts.id ?? 'error-vs-budget',
    title,
    data,
    layout: baseLayout(title, {
      xaxis: budgetAxis(BUDGET_AXIS_TITLE, xs),
      yaxis: axis('relative output error ‖o_S − o‖ / ‖o‖ (log scale)', { type: 'log', ...logTicks(series.flatMap((s) => s.points.flatMap((p) => [p.lo, p.hi]))) }),
      legend: { title: { text: `mean over layers × heads × steps;<br>${bandLegendText(bandLabel, bands)}` }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      updatemenus: [bandToggle(data)].filter(Boolean),
    }, budgetModeNote(table), width),
    width,
    height: 580,
  };
}
