/**
 * A sweep's grid at a glance: mean of a metric over (cluster count C0, budget B) for one method, as a
 * heatmap with the value written in each cell. Shows where more clusters pay off and where the budget rules.
 * Input: a sweep table with columns method, clusters, budget and the metric.
 */
import * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';
import { PlotError } from './errors.js';
import type { Figure } from './figure.js';
import { axis, baseLayout } from './style.js';

export interface GridHeatmapOptions {
  /** the method whose grid is shown ['clusterkv'] */
  method?: string;
  metric?: 'massRecall' | 'topkRecall' | 'outputRelError';
  subtitle?: string;
  id?: string;
}

const METRIC_LABEL: Record<string, string> = { massRecall: 'mass recall', topkRecall: 'top-k recall', outputRelError: 'relative output error' };

export function gridHeatmapFigure(table: aq.ColumnTable, opts: GridHeatmapOptions = {}): Figure {
  const method = opts.method ?? 'clusterkv';
  const metric = opts.metric ?? 'massRecall';
  requireColumns(table, ['method', 'clusters', 'budget', metric], 'cluster-count x budget grid');
  const cells = table
    .filter(aq.escape((d: Record<string, unknown>) => d.method === method && numberOrNull(d.clusters) !== null && numberOrNull(d.budget) !== null))
    .groupby('clusters', 'budget')
    .rollup({ value: aq.op.mean(metric) })
    .objects() as Record<string, unknown>[];
  if (cells.length === 0) throw new PlotError(`cluster-count x budget grid: no ${method} rows with both clusters and budget`);
  const clusters = [...new Set(cells.map((c) => Number(c.clusters)))].sort((a, b) => a - b);
  const budgets = [...new Set(cells.map((c) => Number(c.budget)))].sort((a, b) => a - b);
  const z = clusters.map(() => budgets.map(() => null as number | null));
  for (const c of cells) z[clusters.indexOf(Number(c.clusters))][budgets.indexOf(Number(c.budget))] = Number(c.value);
  const label = METRIC_LABEL[metric];
  const error = metric === 'outputRelError';
  const title = `${method} ${label} over the grid of prompt cluster count C0 and token budget B${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = Math.max(700, 110 * budgets.length + 300);
  return {
    id: opts.id ?? `grid-${metric === 'massRecall' ? 'mass-recall' : metric === 'topkRecall' ? 'topk-recall' : 'output-error'}`,
    title,
    data: [{
      type: 'heatmap', name: method,
      x: budgets.map(String), y: clusters.map(String), z,
      text: z.map((row) => row.map((v) => (v === null ? '' : v.toFixed(3)))),
      texttemplate: '%{text}', textfont: { size: 13 },
      colorscale: 'Viridis', reversescale: error, showscale: true,
      ...(error ? {} : { zmin: 0, zmax: 1 }),
      colorbar: { title: { text: `mean ${label}` } },
      hovertemplate: `C0 %{y}, B %{x}<br>mean ${label} %{z:.4f}<extra></extra>`,
    }],
    layout: baseLayout(title, {
      xaxis: axis('token budget B (tokens)', { type: 'category', showgrid: false }),
      yaxis: axis('prompt clusters C0 per KV head', { type: 'category', showgrid: false }),
    }, 'mean over layers × heads × steps; legend: colour bar', width),
    width,
    height: Math.max(420, 70 * clusters.length + 220),
  };
}
