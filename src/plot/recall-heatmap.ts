/**
 * Layer x head heatmaps of recall at one budget: one panel per method variant, mean over decode steps,
 * one shared colour scale. Shows which layers and heads a method serves badly.
 * Input: a sweep table with columns budget, layer, head, the metric and the seriesBy columns.
 */
import * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';
import { PlotError } from './errors.js';
import type { Figure, PlotlyLayout, PlotlyTrace } from './figure.js';
import { defaultSeriesBy } from './recall-vs-budget.js';
import { seriesLabel } from './series.js';
import { axis, baseLayout } from './style.js';

export interface RecallHeatmapOptions {
  /** the budget shown [the median budget of the table] */
  budget?: number;
  metric?: 'massRecall' | 'topkRecall';
  seriesBy?: string[];
  /** only these methods [every method with a budget] */
  methods?: string[];
  subtitle?: string;
  id?: string;
  /** panels per row [3] */
  columns?: number;
}

const METRIC_LABEL = { massRecall: 'mass recall', topkRecall: 'top-k recall' };

/** The distinct budgets of a results table, ascending. */
export function tableBudgets(table: aq.ColumnTable): number[] {
  return [...new Set((table.array('budget') as unknown[]).map(numberOrNull).filter((b): b is number => b !== null))].sort((a, b) => a - b);
}

/** The median of the distinct budgets in the table (the budget shown when none is asked for). */
export function middleBudget(table: aq.ColumnTable): number {
  const budgets = tableBudgets(table);
  if (budgets.length === 0) throw new PlotError('recall heatmap: no row has a budget');
  return budgets[Math.floor((budgets.length - 1) / 2)];
}

/**
 * A method's dense first layers carry no value for some series columns (ClusterKV with a default C0 has no
 * clusters there): where a method has exactly one value of such a column elsewhere, its empty cells take it,
 * so the dense layers land in the same panel as the method's other layers instead of a panel of their own.
 */
function fillSingleVariant(cells: Record<string, unknown>[], seriesBy: string[]): void {
  const [methodColumn, ...params] = seriesBy;
  for (const param of params) {
    const values = new Map<string, Set<string>>();
    for (const c of cells) {
      if (c[param] === null || c[param] === undefined || c[param] === '') continue;
      const m = String(c[methodColumn]);
      if (!values.has(m)) values.set(m, new Set());
      values.get(m)!.add(JSON.stringify(c[param]));
    }
    for (const c of cells) {
      const only = values.get(String(c[methodColumn]));
      if ((c[param] === null || c[param] === undefined || c[param] === '') && only?.size === 1) c[param] = JSON.parse([...only][0]);
    }
  }
}

export function recallHeatmapFigure(table: aq.ColumnTable, opts: RecallHeatmapOptions = {}): Figure {
  const metric = opts.metric ?? 'massRecall';
  const seriesBy = opts.seriesBy ?? defaultSeriesBy(table);
  requireColumns(table, ['budget', 'layer', 'head', metric, ...seriesBy], 'recall heatmap');
  const budget = opts.budget ?? middleBudget(table);
  const atBudget = table.filter(aq.escape((d: Record<string, unknown>) =>
    numberOrNull(d.budget) === budget && (!opts.methods || opts.methods.includes(String(d[seriesBy[0]])))));
  if (atBudget.numRows() === 0) throw new PlotError(`recall heatmap: no rows at budget ${budget}${opts.methods ? ` for ${opts.methods.join(', ')}` : ''}`);
  // denseLayers (a sweep column): the method's first layers attend everything; their rows are shaded and labelled
  const hasDense = table.columnNames().includes('denseLayers');
  const cells = atBudget.groupby(...seriesBy, 'layer', 'head')
    .rollup({ value: aq.op.mean(metric), ...(hasDense ? { denseLayers: aq.op.max('denseLayers') } : {}) })
    .objects() as Record<string, unknown>[];
  fillSingleVariant(cells, seriesBy);
  const layers = [...new Set(cells.map((c) => Number(c.layer)))].sort((a, b) => a - b);
  const heads = [...new Set(cells.map((c) => Number(c.head)))].sort((a, b) => a - b);
  const panels = new Map<string, Record<string, unknown>[]>();
  for (const c of cells) {
    const params: Record<string, unknown> = {};
    for (const k of seriesBy.slice(1)) params[k] = c[k];
    const label = seriesLabel(String(c[seriesBy[0]]), params);
    if (!panels.has(label)) panels.set(label, []);
    panels.get(label)!.push(c);
  }
  const labels = [...panels.keys()];
  const cols = Math.min(opts.columns ?? 3, labels.length);
  const rows = Math.ceil(labels.length / cols);
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  const shapes: Record<string, unknown>[] = [];
  let anyDense = false;
  const gap = 0.06;
  const w = (1 - gap * (cols - 1)) / cols;
  const vgap = rows > 1 ? 110 / (360 * rows) : 0; // about 110 px between rows: room for the axis title and the next panel title
  const h = (1 - vgap * (rows - 1)) / rows;
  labels.forEach((label, i) => {
    const z = layers.map(() => heads.map(() => null as number | null));
    for (const c of panels.get(label)!) z[layers.indexOf(Number(c.layer))][heads.indexOf(Number(c.head))] = Number(c.value);
    const dense = Math.max(0, ...panels.get(label)!.map((c) => numberOrNull(c.denseLayers) ?? 0));
    const denseRows = layers.filter((l) => l < dense);
    const text = layers.map((l) => heads.map(() => (l < dense ? 'dense layer: attends all' : '')));
    const n = i === 0 ? '' : String(i + 1);
    const col = i % cols;
    const row = Math.floor(i / cols);
    const x0 = col * (w + gap);
    const y1 = 1 - row * (h + vgap);
    data.push({
      type: 'heatmap', name: label, xaxis: `x${n}`, yaxis: `y${n}`,
      x: heads, y: layers, z, zmin: 0, zmax: 1, colorscale: 'Viridis', showscale: i === 0,
      colorbar: { title: { text: METRIC_LABEL[metric] }, len: 0.9 },
      ...(denseRows.length ? { text } : {}),
      hovertemplate: `${label}<br>layer %{y}, head %{x}<br>${METRIC_LABEL[metric]} %{z:.4f}${denseRows.length ? '<br>%{text}' : ''}<extra></extra>`,
    });
    layout[`xaxis${n}`] = axis('query head', { domain: [x0, x0 + w], anchor: `y${n}`, dtick: 1, showgrid: false });
    layout[`yaxis${n}`] = axis('layer', { domain: [y1 - h, y1], anchor: `x${n}`, dtick: 1, showgrid: false, autorange: 'reversed' });
    if (denseRows.length) {
      // one shaded band over the dense rows, labelled once: readable at any number of heads
      anyDense = true;
      const last = denseRows[denseRows.length - 1];
      const next = layers.find((l) => l > last);
      const yTop = denseRows[0] - 0.5;
      const yBottom = next === undefined ? last + 0.5 : (last + next) / 2;
      const xRange = { x0: heads[0] - 0.5, x1: heads[heads.length - 1] + 0.5 };
      shapes.push({ type: 'rect', xref: `x${n}`, yref: `y${n}`, ...xRange, y0: yTop, y1: yBottom, fillcolor: 'rgba(255,255,255,0.6)', line: { color: '#666', width: 1, dash: 'dot' } });
      annotations.push({
        text: `dense: layer${denseRows.length > 1 ? 's' : ''} ${denseRows.length > 1 ? `${denseRows[0]}–${last}` : last} attend all`,
        xref: `x${n}`, yref: `y${n}`, x: (xRange.x0 + xRange.x1) / 2, y: (yTop + yBottom) / 2, showarrow: false, font: { size: 12, color: '#222' },
      });
    }
    annotations.push({ text: `<b>${label}</b>`, x: x0 + w / 2, y: y1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 14 } });
  });
  const title = `${METRIC_LABEL[metric]} by layer and query head at budget B=${budget}, per method${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = Math.max(700, 380 * cols + 120);
  return {
    id: opts.id ?? `heatmap-${metric === 'massRecall' ? 'mass' : 'topk'}-recall-b${budget}`,
    title: title.charAt(0).toUpperCase() + title.slice(1),
    data,
    layout: baseLayout(title.charAt(0).toUpperCase() + title.slice(1), { ...layout, annotations, shapes, showlegend: false, margin: { l: 80, r: 30, t: 110, b: 70 } },
      `mean over decode steps; the colour scale is shared by all panels (legend: colour bar)${anyDense ? '; shaded rows: dense first layers (every method attends all there)' : ''}`, width),
    width,
    height: Math.max(450, 360 * rows + 140),
  };
}
