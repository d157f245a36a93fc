/**
 * Any per-row metric versus budget (e.g. next-token KL of a real model, top-1 agreement, tokens loaded per
 * attended token), one line per method variant with a spread band over the rows, as recallVsBudgetFigure
 * draws recall. The caller names the metric and its unit; methods without a budget become reference lines.
 * Input: a table with columns budget, the metric and the seriesBy columns.
 */
import type * as aq from 'arquero';
import { BUDGET_AXIS_TITLE, budgetModeNote } from './budget-note.js';
import type { Figure } from './figure.js';
import { defaultSeriesBy } from './recall-vs-budget.js';
import { BAND_LABEL, flatSeriesOf, seriesOf, type Band } from './series.js';
import { bandLegendText, bandState, bandToggle, seriesTraces, type BandDisplay } from './series-traces.js';
import { axis, baseLayout, budgetAxis, logTicks } from './style.js';

export interface MetricVsBudgetOptions {
  /** the column plotted */
  metric: string;
  /** y-axis title, with the unit, e.g. 'KL(dense ‖ sparse) of the next token (nats, log scale)' */
  yTitle: string;
  /** what is compared, the start of the figure title, e.g. 'Next-token KL divergence from dense attention' */
  what: string;
  id: string;
  seriesBy?: string[];
  band?: Band;
  /** spread bands shown, hidden (one click away) or none ['auto': shown for up to 4 series] */
  bands?: BandDisplay;
  /** log-scale y axis [false]; non-positive values are left out of the band floor */
  logY?: boolean;
  /** y range of a linear axis, e.g. [0, 1.02] for fractions */
  yRange?: [number, number];
  subtitle?: string;
  /** second title line [the table's budget-mode note] */
  note?: string;
}

export function metricVsBudgetFigure(table: aq.ColumnTable, opts: MetricVsBudgetOptions): Figure {
  const seriesBy = opts.seriesBy ?? defaultSeriesBy(table);
  const band = opts.band ?? 'p10-p90';
  const bandLabel = BAND_LABEL[band];
  const series = seriesOf(table, 'budget', opts.metric, seriesBy, band);
  let reference = flatSeriesOf(table, 'budget', opts.metric, seriesBy);
  let yAxis: Record<string, unknown>;
  if (opts.logY) {
    const positive = series.flatMap((s) => s.points.flatMap((p) => [p.lo, p.mean, p.hi])).filter((v) => v > 0);
    const floor = positive.length ? Math.min(...positive) : 1e-6;
    for (const s of series) for (const p of s.points) p.lo = Math.max(p.lo, floor);
    reference = reference.filter((r) => r.points[0].mean > 0);
    yAxis = axis(opts.yTitle, { type: 'log', ...logTicks([...positive, ...reference.map((r) => r.points[0].mean)]) });
  } else {
    yAxis = axis(opts.yTitle, opts.yRange ? { range: opts.yRange } : {});
  }
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const hasBand = series.some((s) => s.points.some((p) => p.hi > p.lo));
  const bands = bandState(opts.bands, series.length);
  const data = seriesTraces(series, reference, {
    metricLabel: opts.metric, bandLabel, xRange: xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined, bands,
  });
  const title = `${opts.what} vs token budget${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1000;
  return {
    id: opts.id,
    title,
    data,
    layout: baseLayout(title, {
      xaxis: budgetAxis(BUDGET_AXIS_TITLE, xs),
      yaxis: yAxis,
      legend: { title: { text: hasBand ? `method: mean over rows;<br>${bandLegendText(bandLabel, bands)}` : 'method' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      updatemenus: hasBand ? [bandToggle(data)].filter(Boolean) : [],
    }, opts.note ?? budgetModeNote(table), width),
    width,
    height: 560,
  };
}
