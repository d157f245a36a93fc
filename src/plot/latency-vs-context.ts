/**
 * Decode-step latency versus context length: dense attention against the ClusterKV step at each budget, log
 * axes, one colour per series and one dash per source (e.g. backend and GPU of a bench file).
 *
 * Input table, one row per (source, context, series):
 *   source    string   where the numbers come from, e.g. 'webgpu NVIDIA H200' (optional column)
 *   context   number   context length T (tokens)
 *   series    string   'dense' or 'clusterkv B=N'
 *   medianMs  number   median latency of one decode step's attention path (ms)
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout, logTicks, methodColor, variantDash } from './style.js';

const CLUSTERKV_SHADES = ['#0072B2', '#56B4E9', '#009E73', '#CC79A7', '#D55E00', '#E69F00'];

export interface LatencyVsContextOptions {
  subtitle?: string;
  id?: string;
}

export function latencyVsContextFigure(table: aq.ColumnTable, opts: LatencyVsContextOptions = {}): Figure {
  requireColumns(table, ['context', 'series', 'medianMs'], 'latency vs context');
  const rows = table.objects() as Record<string, unknown>[];
  const sourceOf = (r: Record<string, unknown>) => (r.source === undefined || r.source === null ? '' : String(r.source));
  const sources = [...new Set(rows.map(sourceOf))];
  const series = [...new Set(rows.map((r) => String(r.series)))].sort((a, b) => (a === 'dense' ? -1 : b === 'dense' ? 1 : a.localeCompare(b, 'en', { numeric: true })));
  const sparse = series.filter((s) => s !== 'dense');
  const colorOf = (s: string) => (s === 'dense' ? methodColor('full', []) : CLUSTERKV_SHADES[sparse.indexOf(s) % CLUSTERKV_SHADES.length]);
  const data: PlotlyTrace[] = [];
  sources.forEach((source, si) => {
    for (const s of series) {
      const pts = rows.filter((r) => sourceOf(r) === source && String(r.series) === s).sort((a, b) => Number(a.context) - Number(b.context));
      if (pts.length === 0) continue;
      const name = sources.length > 1 ? `${s} — ${source}` : s;
      data.push({
        type: 'scatter', mode: 'lines+markers', name,
        x: pts.map((r) => Number(r.context)), y: pts.map((r) => Number(r.medianMs)),
        line: { color: colorOf(s), width: s === 'dense' ? 3 : 2.5, dash: variantDash(si) },
        marker: { color: colorOf(s), size: 8, symbol: s === 'dense' ? 'square' : 'circle' },
        hovertemplate: `${name}<br>context %{x} tokens<br>%{y:.3f} ms<extra></extra>`,
      });
    }
  });
  const contexts = [...new Set(rows.map((r) => Number(r.context)))].sort((a, b) => a - b);
  const ms = rows.map((r) => Number(r.medianMs));
  const title = `Decode-step attention latency vs context: dense against ClusterKV${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1100;
  return {
    id: opts.id ?? 'latency-vs-context',
    title,
    data,
    layout: baseLayout(title, {
      xaxis: axis('context length T (tokens, log scale)', { type: 'log', tickvals: contexts, ticktext: contexts.map(String) }),
      yaxis: axis('median latency of one decode step (ms, log scale)', { type: 'log', ...logTicks(ms) }),
      legend: { title: { text: sources.length > 1 ? 'path — source (dash)' : 'path (B: token budget)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, 'ClusterKV: centroid scores, ranking, index, gather and sparse attention; dense: attention over every position', width),
    width,
    height: 580,
  };
}
