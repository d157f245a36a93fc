/**
 * Per-stage latency breakdown: stacked bars of median time per stage, one bar per configuration
 * (e.g. 'clusterkv B=2048', 'dense'), with the total on top of each bar.
 *
 * Input table, one row per (config, stage):
 *   config    string   bar label, e.g. 'clusterkv B=2048 (webgpu)'
 *   stage     string   pipeline stage, e.g. 'centroid scoring', 'ranking', 'index gather', 'kv gather', 'sparse attention'
 *   medianMs  number   median time of the stage (ms)
 * Stages stack in order of first appearance; configs keep their order too.
 * With `facetBy` (e.g. 'source': one bench file per GPU or backend), each value of that column gets its own
 * panel with its own time axis, side by side, so a GPU's microseconds and a CPU's milliseconds both read.
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyLayout, PlotlyTrace } from './figure.js';
import { axis, baseLayout } from './style.js';

const STAGE_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#882255', '#999999', '#F0E442', '#000000'];

/** 3.50, 12.3, and two significant digits under 0.1 ms (GPU stages take microseconds). */
function msLabel(ms: number): string {
  return ms < 0.1 ? ms.toPrecision(2) : ms.toFixed(ms < 10 ? 2 : 1);
}

export interface LatencyBreakdownOptions {
  subtitle?: string;
  id?: string;
  /** a column whose values each get a panel (own y axis) */
  facetBy?: string;
}

export function latencyBreakdownFigure(table: aq.ColumnTable, opts: LatencyBreakdownOptions = {}): Figure {
  requireColumns(table, ['config', 'stage', 'medianMs', ...(opts.facetBy ? [opts.facetBy] : [])], 'latency breakdown');
  const rows = table.objects() as Record<string, unknown>[];
  const facetOf = (r: Record<string, unknown>) => (opts.facetBy ? String(r[opts.facetBy]) : '');
  const facets = [...new Set(rows.map(facetOf))];
  const stages = [...new Set(rows.map((r) => String(r.stage)))];
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  const gap = facets.length > 1 ? 0.12 : 0;
  const w = (1 - gap * (facets.length - 1)) / facets.length;
  let bars = 0;
  facets.forEach((facet, f) => {
    const inFacet = rows.filter((r) => facetOf(r) === facet);
    const configs = [...new Set(inFacet.map((r) => String(r.config)))];
    bars += configs.length;
    const value = new Map(inFacet.map((r) => [`${r.config}\u0000${r.stage}`, Number(r.medianMs)]));
    const n = f === 0 ? '' : String(f + 1);
    stages.forEach((stage, i) => {
      if (!configs.some((c) => value.has(`${c}\u0000${stage}`))) return;
      data.push({
        type: 'bar',
        name: stage,
        legendgroup: stage,
        showlegend: !data.some((t) => t.name === stage),
        x: configs,
        y: configs.map((c) => value.get(`${c}\u0000${stage}`) ?? 0),
        xaxis: `x${n}`,
        yaxis: `y${n}`,
        marker: { color: STAGE_COLORS[i % STAGE_COLORS.length] },
        hovertemplate: `${facet ? `${facet}<br>` : ''}%{x}<br>${stage}: %{y:.4g} ms<extra></extra>`,
      });
    });
    const totals = configs.map((c) => stages.reduce((s, st) => s + (value.get(`${c}\u0000${st}`) ?? 0), 0));
    const x0 = f * (w + gap);
    layout[`xaxis${n}`] = axis('configuration', { type: 'category', domain: [x0, x0 + w], anchor: `y${n}` });
    if (facets.length > 1) {
      annotations.push({ text: `<b>${facet}</b>`, x: x0 + w / 2, y: 1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 14 } });
    }
    layout[`yaxis${n}`] = axis('median time (ms)', { rangemode: 'tozero', anchor: `x${n}` });
    configs.forEach((c, i) => annotations.push({
      x: c, y: totals[i], xref: `x${n}`, yref: `y${n}`, text: `${msLabel(totals[i])} ms`, showarrow: false, yanchor: 'bottom', font: { size: 12 },
    }));
  });
  const title = `Per-stage latency of one decode step, per configuration${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = Math.max(800, 160 * bars + 400);
  return {
    id: opts.id ?? 'latency-breakdown',
    title,
    data,
    layout: baseLayout(title, {
      barmode: 'stack',
      ...layout,
      legend: { title: { text: 'stage (median of runs)' }, traceorder: 'reversed', bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      annotations,
      ...(facets.length > 1 ? { margin: { l: 80, r: 30, t: 115, b: 70 } } : {}),
    }, facets.length > 1 ? 'stacked medians of each stage; the label on a bar is their sum; each panel has its own time axis' : 'stacked medians of each stage; the label on a bar is their sum', width),
    width,
    height: 580,
  };
}
