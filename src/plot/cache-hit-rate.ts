/**
 * GPU cache simulation compared across methods: hit rate (left) and bytes moved host -> GPU per decode step
 * (right), grouped bars, one bar per cache policy within each method (and budget).
 *
 * Input: summarizeCache's table (src/sim/cachesim.ts), one row per (method, budget, policy):
 *   method, budget, policy, hitRate, hitRateWarm (after the cold first step; may be empty), mbPerStep
 */
import type * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout } from './style.js';

const POLICY_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#882255', '#999999'];

export interface CacheHitRateOptions {
  /** 'hitRateWarm' (steps after the first, default) or 'hitRate' (every step) */
  metric?: 'hitRateWarm' | 'hitRate';
  subtitle?: string;
  id?: string;
}

export function cacheHitRateFigure(table: aq.ColumnTable, opts: CacheHitRateOptions = {}): Figure {
  const metric = opts.metric ?? 'hitRateWarm';
  requireColumns(table, ['method', 'budget', 'policy', metric, 'mbPerStep'], 'cache hit-rate comparison');
  const rows = table.objects() as Record<string, unknown>[];
  const budgets = new Set(rows.map((r) => numberOrNull(r.budget)));
  const groupOf = (r: Record<string, unknown>) => (budgets.size > 1 ? `${r.method} B=${r.budget}` : String(r.method));
  const groups = [...new Set(rows.map(groupOf))];
  const policies = [...new Set(rows.map((r) => String(r.policy)))];
  const value = (g: string, p: string, col: string) => {
    const r = rows.find((row) => groupOf(row) === g && String(row.policy) === p);
    return r ? numberOrNull(r[col]) : null;
  };
  const data: PlotlyTrace[] = [];
  policies.forEach((p, i) => {
    const color = POLICY_COLORS[i % POLICY_COLORS.length];
    data.push({
      type: 'bar', name: p, legendgroup: p, x: groups, y: groups.map((g) => value(g, p, metric)),
      marker: { color }, xaxis: 'x', yaxis: 'y',
      hovertemplate: `%{x}<br>${p}: hit rate %{y:.3f}<extra></extra>`,
    });
    data.push({
      type: 'bar', name: p, legendgroup: p, showlegend: false, x: groups, y: groups.map((g) => value(g, p, 'mbPerStep')),
      marker: { color }, xaxis: 'x2', yaxis: 'y2',
      hovertemplate: `%{x}<br>${p}: %{y:.3f} MB per step<extra></extra>`,
    });
  });
  const which = metric === 'hitRateWarm' ? 'hit rate after the first (cold) step' : 'hit rate over every step';
  const title = `GPU cache simulation: hit rate and host→GPU traffic per method and policy${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1300;
  return {
    id: opts.id ?? 'cache-hit-rate',
    title,
    data,
    layout: baseLayout(title, {
      barmode: 'group',
      grid: { rows: 1, columns: 2, pattern: 'independent' },
      xaxis: axis('method', { type: 'category' }),
      xaxis2: axis('method', { type: 'category' }),
      yaxis: axis('hit rate (fraction of selected tokens resident)', { range: [0, 1.02] }),
      yaxis2: axis('host→GPU traffic (MB per decode step)', { rangemode: 'tozero' }),
      legend: { title: { text: 'cache policy (capacity in units)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, `left: ${which}; right: MB moved, summed over layers and KV heads; units move whole`, width),
    width,
    height: 580,
  };
}
