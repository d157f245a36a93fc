/**
 * Histogram of cluster sizes (tokens per cluster), one colour per layer (all layers together past 8 layers),
 * with the mean size marked. Uneven sizes mean a budget is spent on few large clusters.
 *
 * Input table, one row per cluster:
 *   layer   number   layer index
 *   size    number   tokens in the cluster
 * (other columns, e.g. kvHead, cluster, dispersion, are ignored)
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout } from './style.js';

const LAYER_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#882255', '#000000'];

export interface ClusterSizesOptions {
  subtitle?: string;
  id?: string;
}

export function clusterSizesFigure(table: aq.ColumnTable, opts: ClusterSizesOptions = {}): Figure {
  requireColumns(table, ['layer', 'size'], 'cluster-size histogram');
  const layers = (table.array('layer') as unknown[]).map(Number);
  const sizes = (table.array('size') as unknown[]).map(Number);
  const distinct = [...new Set(layers)].sort((a, b) => a - b);
  const perLayer = distinct.length <= LAYER_COLORS.length;
  const groups = perLayer ? distinct.map((l) => ({ name: `layer ${l}`, values: sizes.filter((_, i) => layers[i] === l) })) : [{ name: `layers ${distinct[0]}–${distinct[distinct.length - 1]}`, values: sizes }];
  const max = Math.max(...sizes);
  const binSize = Math.max(1, Math.ceil(max / 40));
  const data: PlotlyTrace[] = groups.map((g, i) => ({
    type: 'histogram',
    name: g.name,
    x: g.values,
    xbins: { start: 0, end: max + binSize, size: binSize },
    marker: { color: LAYER_COLORS[i % LAYER_COLORS.length], line: { color: 'white', width: 0.5 } },
    opacity: perLayer && groups.length > 1 ? 0.85 : 1,
    hovertemplate: `${g.name}<br>size %{x} tokens: %{y} clusters<extra></extra>`,
  }));
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  const title = `Cluster sizes: tokens per cluster, per layer${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1000;
  return {
    id: opts.id ?? 'cluster-sizes',
    title,
    data,
    layout: baseLayout(title, {
      barmode: 'stack',
      xaxis: axis('cluster size (tokens)'),
      yaxis: axis('clusters (count)'),
      legend: { title: { text: 'layer (bars stacked)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
      shapes: [{ type: 'line', x0: mean, x1: mean, yref: 'paper', y0: 0, y1: 1, line: { color: '#444', dash: 'dash', width: 1.5 } }],
      annotations: [{ x: mean, yref: 'paper', y: 1, text: `mean ${mean.toFixed(1)}`, showarrow: false, xanchor: 'left', yanchor: 'top', font: { size: 12 } }],
    }, `${sizes.length} clusters over ${distinct.length} layer(s) and their KV heads`, width),
    width,
    height: 560,
  };
}
