/**
 * Intra-cluster dispersion: per cluster, the mean cosine distance 1 - cos(k_i, centroid) of its member keys,
 * plotted against cluster size (log x), one colour per layer. Tight clusters (low dispersion) are what
 * make one centroid score stand for all its tokens.
 *
 * Input table, one row per cluster:
 *   layer       number   layer index
 *   size        number   tokens in the cluster
 *   dispersion  number   mean (1 - cosine similarity) of member keys to the centroid
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout, logTicks } from './style.js';

const LAYER_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#882255', '#000000', '#999999', '#F0E442'];

export interface ClusterDispersionOptions {
  subtitle?: string;
  id?: string;
}

export function clusterDispersionFigure(table: aq.ColumnTable, opts: ClusterDispersionOptions = {}): Figure {
  requireColumns(table, ['layer', 'size', 'dispersion'], 'intra-cluster dispersion');
  const layers = (table.array('layer') as unknown[]).map(Number);
  const sizes = (table.array('size') as unknown[]).map(Number);
  const disp = (table.array('dispersion') as unknown[]).map(Number);
  const distinct = [...new Set(layers)].sort((a, b) => a - b);
  const data: PlotlyTrace[] = distinct.map((l, i) => {
    const idx = layers.map((v, j) => (v === l && sizes[j] > 0 ? j : -1)).filter((j) => j >= 0);
    return {
      type: 'scatter',
      mode: 'markers',
      name: `layer ${l}`,
      x: idx.map((j) => sizes[j]),
      y: idx.map((j) => disp[j]),
      marker: { color: LAYER_COLORS[i % LAYER_COLORS.length], size: 7, opacity: 0.7 },
      hovertemplate: `layer ${l}<br>size %{x} tokens<br>dispersion %{y:.4f}<extra></extra>`,
    };
  });
  const title = `Intra-cluster dispersion vs cluster size, per layer${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 1000;
  return {
    id: opts.id ?? 'cluster-dispersion',
    title,
    data,
    layout: baseLayout(title, {
      xaxis: axis('cluster size (tokens, log scale)', { type: 'log', ...logTicks(sizes) }),
      yaxis: axis('dispersion: mean 1 − cos(key, centroid) (unitless)', { rangemode: 'tozero' }),
      legend: { title: { text: 'layer (one point per cluster)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, 'lower is tighter: a centroid stands for its members better', width),
    width,
    height: 560,
  };
}
