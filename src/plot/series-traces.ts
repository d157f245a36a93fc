/** Plotly traces of aggregated series: a mean line with markers and a translucent spread band per series. */
import type { PlotlyTrace } from './figure.js';
import type { Series } from './series.js';
import { methodColor, variantDash, withAlpha } from './style.js';

export interface SeriesTraceOptions {
  xaxis?: string;
  yaxis?: string;
  /** legend entries are made once; pass false for the second panel of a figure */
  showlegend?: boolean;
  /** what the y value is, for hover text */
  metricLabel: string;
  /** band name for hover text, e.g. 'p10–p90' */
  bandLabel: string;
  /** x range of reference lines (series without x, e.g. full attention) */
  xRange?: [number, number];
}

/** Colour by method, dash by variant index within the method. */
export function seriesTraces(series: Series[], reference: Series[], opts: SeriesTraceOptions): PlotlyTrace[] {
  const methods = [...new Set([...series, ...reference].map((s) => s.method))];
  const variantIndex = new Map<string, number>();
  const traces: PlotlyTrace[] = [];
  const shared = { xaxis: opts.xaxis ?? 'x', yaxis: opts.yaxis ?? 'y' };
  // Many overlapping bands turn to mud: fainter bands the more series there are.
  const bandAlpha = Math.max(0.06, Math.min(0.18, 0.6 / Math.max(1, series.length)));
  for (const s of series) {
    const i = variantIndex.get(s.method) ?? 0;
    variantIndex.set(s.method, i + 1);
    const color = methodColor(s.method, methods);
    const xs = s.points.map((p) => p.x);
    traces.push({
      ...shared,
      type: 'scatter',
      mode: 'lines',
      x: [...xs, ...xs.slice().reverse()],
      y: [...s.points.map((p) => p.hi), ...s.points.map((p) => p.lo).reverse()],
      fill: 'toself',
      fillcolor: withAlpha(color, bandAlpha),
      line: { width: 0, color },
      hoverinfo: 'skip',
      legendgroup: s.label,
      showlegend: false,
      name: `${s.label} ${opts.bandLabel}`,
    });
    traces.push({
      ...shared,
      type: 'scatter',
      mode: 'lines+markers',
      x: xs,
      y: s.points.map((p) => p.mean),
      customdata: s.points.map((p) => [p.lo, p.hi, p.n]),
      hovertemplate: `${s.label}<br>x=%{x}<br>mean ${opts.metricLabel} %{y:.4f}<br>${opts.bandLabel} %{customdata[0]:.4f}–%{customdata[1]:.4f}<br>%{customdata[2]} rows<extra></extra>`,
      line: { color, width: 2.5, dash: variantDash(i) },
      marker: { color, size: 7 },
      legendgroup: s.label,
      showlegend: opts.showlegend ?? true,
      name: s.label,
    });
  }
  if (opts.xRange) {
    for (const r of reference) {
      const color = methodColor(r.method, methods);
      traces.push({
        ...shared,
        type: 'scatter',
        mode: 'lines',
        x: opts.xRange,
        y: [r.points[0].mean, r.points[0].mean],
        line: { color, width: 2, dash: 'dot' },
        hovertemplate: `${r.label} (no budget): mean ${opts.metricLabel} %{y:.4f}<extra></extra>`,
        legendgroup: r.label,
        showlegend: opts.showlegend ?? true,
        name: `${r.label} (no budget)`,
      });
    }
  }
  return traces;
}
