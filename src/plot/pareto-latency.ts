/**
 * Pareto front of recall versus measured latency: each configuration (method, budget, cluster count) is a
 * point at (median decode-step latency, mean mass recall); the front joins the points no other point beats
 * on both (lower latency and higher recall).
 *
 * Input table, one or more rows per configuration (rows of one configuration are averaged):
 *   method     string   method name
 *   budget     number   token budget B (empty for dense attention)
 *   clusters   number   ClusterKV prompt cluster count C0 (empty for other methods)
 *   latencyMs  number   measured time of one decode step's attention path (ms)
 *   massRecall number   mean mass recall of the configuration (fraction, 0..1)
 */
import * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { seriesLabel } from './series.js';
import { axis, baseLayout, logTicks, methodColor } from './style.js';

export interface ParetoPoint {
  method: string;
  budget: number | null;
  clusters: number | null;
  latencyMs: number;
  massRecall: number;
}

/** Points on the front (no other point has latency <= and recall >= with one strictly better), by latency. */
export function paretoFront(points: ParetoPoint[]): ParetoPoint[] {
  const sorted = [...points].sort((a, b) => a.latencyMs - b.latencyMs || b.massRecall - a.massRecall);
  const front: ParetoPoint[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const p of sorted) {
    if (p.massRecall > best) {
      front.push(p);
      best = p.massRecall;
    }
  }
  return front;
}

export interface ParetoOptions {
  subtitle?: string;
  id?: string;
  /** log-scale latency axis [true] */
  logLatency?: boolean;
}

export function paretoLatencyFigure(table: aq.ColumnTable, opts: ParetoOptions = {}): Figure {
  requireColumns(table, ['method', 'budget', 'clusters', 'latencyMs', 'massRecall'], 'Pareto front of recall vs latency');
  const rows = table
    .groupby('method', 'budget', 'clusters')
    .rollup({ latencyMs: aq.op.median('latencyMs'), massRecall: aq.op.mean('massRecall') })
    .objects() as Record<string, unknown>[];
  const points: ParetoPoint[] = rows
    .map((r) => ({
      method: String(r.method),
      budget: numberOrNull(r.budget),
      clusters: numberOrNull(r.clusters),
      latencyMs: Number(r.latencyMs),
      massRecall: Number(r.massRecall),
    }))
    .filter((p) => Number.isFinite(p.latencyMs) && Number.isFinite(p.massRecall));
  const methods = [...new Set(points.map((p) => p.method))];
  const label = (p: ParetoPoint) => (p.budget === null ? 'dense' : `B=${p.budget}${p.clusters !== null ? ` C0=${p.clusters}` : ''}`);
  const data: PlotlyTrace[] = methods.map((m) => {
    const ps = points.filter((p) => p.method === m);
    return {
      type: 'scatter',
      mode: 'markers+text',
      name: m,
      x: ps.map((p) => p.latencyMs),
      y: ps.map((p) => p.massRecall),
      text: ps.map(label),
      textposition: 'top center',
      textfont: { size: 11, color: methodColor(m, methods) },
      marker: { size: 11, color: methodColor(m, methods), line: { color: 'white', width: 1 } },
      hovertemplate: `${m} %{text}<br>latency %{x:.3f} ms<br>mass recall %{y:.4f}<extra></extra>`,
    };
  });
  const front = paretoFront(points);
  data.push({
    type: 'scatter',
    mode: 'lines',
    name: 'Pareto front',
    x: front.map((p) => p.latencyMs),
    y: front.map((p) => p.massRecall),
    line: { shape: 'hv', color: '#444', width: 1.5, dash: 'dash' },
    hovertemplate: front.map((p) => `${seriesLabel(p.method, { budget: p.budget, clusters: p.clusters })}<extra>front</extra>`),
  });
  // Pad the latency range so the text labels of the extreme points stay inside the plot.
  const lat = points.map((p) => p.latencyMs).filter((v) => v > 0);
  const logAxis = opts.logLatency !== false;
  const lo = Math.min(...lat);
  const hi = Math.max(...lat);
  const range = logAxis
    ? [Math.log10(lo) - 0.12 * Math.max(0.3, Math.log10(hi / lo)), Math.log10(hi) + 0.08 * Math.max(0.3, Math.log10(hi / lo))]
    : [lo - 0.12 * (hi - lo || 1), hi + 0.08 * (hi - lo || 1)];
  const title = `Mass recall vs measured decode-step latency: Pareto front of methods and budgets${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1100;
  return {
    id: opts.id ?? 'pareto-recall-latency',
    title,
    data,
    layout: baseLayout(title, {
      xaxis: axis(`latency of one decode step's attention (ms${logAxis ? ', log scale' : ''})`, { type: logAxis ? 'log' : 'linear', range, ...(logAxis ? logTicks(lat) : {}) }),
      yaxis: axis('mass recall (fraction of attention weight kept)', { range: [0, 1.05] }),
      legend: { title: { text: 'method (labels: budget B, clusters C0)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, 'up and to the left is better; the dashed line joins configurations no other one beats on both axes', width),
    width,
    height: 620,
  };
}
