/**
 * The needle-in-a-haystack picture: passkey accuracy over needle depth x context at one budget, one panel
 * per method variant (dense attention, method full, first when present), one shared colour scale, the
 * value written in each cell.
 * Input: a passkey eval table with columns method, budget, context, depth, correct and the variant columns.
 */
import * as aq from 'arquero';
import { numberOrNull, requireColumns } from './columns.js';
import { PlotError } from './errors.js';
import type { Figure, PlotlyLayout, PlotlyTrace } from './figure.js';
import { passkeyVariantColumns } from '../model/passkey/summary.js';
import { withPanelTitles } from './passkey-accuracy.js';
import { middleBudget } from './recall-heatmap.js';
import { seriesLabel } from './series.js';
import { axis, baseLayout } from './style.js';

export interface PasskeyHeatmapOptions {
  /** the budget shown [the middle budget of the table] */
  budget?: number;
  subtitle?: string;
  id?: string;
  /** panels per row [4] */
  columns?: number;
}

export function passkeyHeatmapFigure(table: aq.ColumnTable, opts: PasskeyHeatmapOptions = {}): Figure {
  requireColumns(table, ['method', 'budget', 'context', 'depth', 'correct'], 'passkey depth x context heatmap');
  const budget = opts.budget ?? middleBudget(table);
  const variant = passkeyVariantColumns(table);
  const shown = table.filter(aq.escape((d: Record<string, unknown>) => d.method === 'full' || numberOrNull(d.budget) === budget));
  if (shown.numRows() === 0) throw new PlotError(`passkey heatmap: no rows at budget ${budget}`);
  const cells = shown.groupby(...variant, 'context', 'depth').rollup({ accuracy: aq.op.mean('correct'), documents: aq.op.count() }).objects() as Record<string, unknown>[];
  const contexts = [...new Set(cells.map((c) => Number(c.context)))].sort((a, b) => a - b);
  const depths = [...new Set(cells.map((c) => Number(c.depth)))].sort((a, b) => a - b);
  const panels = new Map<string, Record<string, unknown>[]>();
  for (const c of cells) {
    const label = seriesLabel(String(c.method), Object.fromEntries(variant.slice(1).map((k) => [k, c[k]])));
    if (!panels.has(label)) panels.set(label, []);
    panels.get(label)!.push(c);
  }
  const labels = [...panels.keys()].sort((a, b) => Number(b.startsWith('full')) - Number(a.startsWith('full')));
  const cols = Math.min(opts.columns ?? 4, labels.length);
  const rows = Math.ceil(labels.length / cols);
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  const gap = 0.075;
  const w = (1 - gap * (cols - 1)) / cols;
  const vgap = rows > 1 ? 110 / (330 * rows) : 0;
  const h = (1 - vgap * (rows - 1)) / rows;
  labels.forEach((label, i) => {
    const z = depths.map(() => contexts.map(() => null as number | null));
    const docs = depths.map(() => contexts.map(() => 0));
    for (const c of panels.get(label)!) {
      z[depths.indexOf(Number(c.depth))][contexts.indexOf(Number(c.context))] = Number(c.accuracy);
      docs[depths.indexOf(Number(c.depth))][contexts.indexOf(Number(c.context))] = Number(c.documents);
    }
    const n = i === 0 ? '' : String(i + 1);
    const col = i % cols;
    const row = Math.floor(i / cols);
    const x0 = col * (w + gap);
    const y1 = 1 - row * (h + vgap);
    const title = label.startsWith('full') ? `${label} (dense, no budget)` : label;
    data.push({
      type: 'heatmap', name: title, xaxis: `x${n}`, yaxis: `y${n}`,
      x: contexts.map(String), y: depths.map(String), z, customdata: docs,
      zmin: 0, zmax: 1, colorscale: 'Viridis', showscale: i === 0,
      colorbar: { title: { text: 'accuracy' }, len: 0.9 },
      text: z.map((r) => r.map((v) => (v === null ? '' : v.toFixed(2)))), texttemplate: '%{text}', textfont: { size: 12 },
      hovertemplate: `${title}<br>context %{x}, depth %{y}<br>accuracy %{z:.3f} over %{customdata} documents<extra></extra>`,
    });
    layout[`xaxis${n}`] = axis('context (tokens)', { type: 'category', domain: [x0, x0 + w], anchor: `y${n}`, showgrid: false });
    layout[`yaxis${n}`] = axis(col === 0 ? 'needle depth' : 'depth', { type: 'category', domain: [y1 - h, y1], anchor: `x${n}`, showgrid: false, autorange: 'reversed' });
    annotations.push({ text: `<b>${title}</b>`, x: x0 + w / 2, y: y1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 13 } });
  });
  const title = `Passkey accuracy by needle depth and context at budget B=${budget}, per method${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = Math.max(700, 300 * cols + 160);
  return {
    id: opts.id ?? `passkey-depth-context-b${budget}`,
    title,
    data,
    layout: withPanelTitles(baseLayout(title, { ...layout, annotations, showlegend: false },
      'depth 0: needle right after the intro, 1: right before the question; the colour scale is shared by all panels (legend: colour bar)', width)),
    width,
    height: Math.max(420, 330 * rows + 140),
  };
}
