/**
 * Per-stage latency breakdown: stacked bars of median time per stage, one bar per configuration
 * (e.g. 'clusterkv B=2048', 'dense'), with the total on top of each bar.
 *
 * Input table, one row per (config, stage):
 *   config    string   bar label, e.g. 'clusterkv B=2048 (webgpu)'
 *   stage     string   pipeline stage, e.g. 'centroid scoring', 'ranking', 'index gather', 'kv gather', 'sparse attention'
 *   medianMs  number   median time of the stage (ms)
 * Stages stack in order of first appearance; configs keep their order too.
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout } from './style.js';

const STAGE_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#882255', '#999999', '#F0E442', '#000000'];

export interface LatencyBreakdownOptions {
  subtitle?: string;
  id?: string;
}

export function latencyBreakdownFigure(table: aq.ColumnTable, opts: LatencyBreakdownOptions = {}): Figure {
  requireColumns(table, ['config', 'stage', 'medianMs'], 'latency breakdown');
  const rows = table.objects() as Record<string, unknown>[];
  const configs = [...new Set(rows.map((r) => String(r.config)))];
  const stages = [...new Set(rows.map((r) => String(r.stage)))];
  const value = new Map(rows.map((r) => [`${r.config}\u0000${r.stage}`, Number(r.medianMs)]));
  const data: PlotlyTrace[] = stages.map((stage, i) => ({
    type: 'bar',
    name: stage,
    x: configs,
    y: configs.map((c) => value.get(`${c}\u0000${stage}`) ?? 0),
    marker: { color: STAGE_COLORS[i % STAGE_COLORS.length] },
    hovertemplate: `%{x}<br>${stage}: %{y:.3f} ms<extra></extra>`,
  }));
  const totals = configs.map((c) => stages.reduce((s, st) => s + (value.get(`${c}\u0000${st}`) ?? 0), 0));
  const title = `Per-stage latency of one decode step, per configuration${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  return {
    id: opts.id ?? 'latency-breakdown',
    title,
    data,
    layout: baseLayout(title, {
      barmode: 'stack',
      xaxis: axis('configuration', { type: 'category' }),
      yaxis: axis('median time (ms)', { rangemode: 'tozero' }),
      legend: { title: { text: 'stage (median of runs)' }, traceorder: 'reversed', bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      annotations: configs.map((c, i) => ({ x: c, y: totals[i], text: `${totals[i].toFixed(totals[i] < 10 ? 2 : 1)} ms`, showarrow: false, yanchor: 'bottom', font: { size: 12 } })),
    }, 'stacked medians of each stage; the label on a bar is their sum'),
    width: Math.max(800, 160 * configs.length + 400),
    height: 580,
  };
}
