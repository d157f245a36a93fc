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
  /** hover name of the value points were grouped by when they sit elsewhere (SeriesPoint.of), e.g. 'B' */
  groupLabel?: string;
  /** x range of reference lines (series without x, e.g. full attention) */
  xRange?: [number, number];
  /** spread bands drawn ('shown'), drawn but hidden until toggled ('hidden'), or left out ('none') ['shown'] */
  bands?: 'shown' | 'hidden' | 'none';
}

/**
 * When spread bands show: 'auto' shows them for up to AUTO_BAND_SERIES series (more overlapping bands wash
 * into grey: they are then hidden, one click away); 'shown' and 'hidden' force it; 'none' draws no bands.
 */
export type BandDisplay = 'auto' | 'shown' | 'hidden' | 'none';
export const AUTO_BAND_SERIES = 4;

export function bandState(display: BandDisplay = 'auto', seriesCount: number): 'shown' | 'hidden' | 'none' {
  if (display === 'auto') return seriesCount <= AUTO_BAND_SERIES ? 'shown' : 'hidden';
  return display;
}

/** Band traces are the filled ones. */
function isBand(trace: PlotlyTrace): boolean {
  return trace.fill === 'toself';
}

/**
 * A button pair above the plot that shows or hides every spread band of `data` (bands on demand), or
 * undefined when there are no bands.
 */
export function bandToggle(data: PlotlyTrace[]): Record<string, unknown> | undefined {
  const bands = data.flatMap((t, i) => (isBand(t) ? [i] : []));
  if (bands.length === 0) return undefined;
  const active = data[bands[0]].visible === false ? 1 : 0;
  return {
    type: 'buttons', direction: 'right', showactive: true, active, x: 1, xanchor: 'right', y: 1.02, yanchor: 'bottom',
    pad: { r: 0, t: 0, b: 4 }, bgcolor: 'white', bordercolor: '#ccc', font: { size: 12 },
    buttons: [
      { label: 'bands on', method: 'restyle', args: [{ visible: true }, bands] },
      { label: 'bands off', method: 'restyle', args: [{ visible: false }, bands] },
    ],
  };
}

/** The legend's band line: which band, and where it is when hidden. */
export function bandLegendText(bandLabel: string, state: 'shown' | 'hidden' | 'none'): string {
  if (state === 'none') return 'no spread band';
  return state === 'hidden' ? `band: ${bandLabel} (off)` : `band: ${bandLabel}`;
}

/** Colour by method, dash by variant index within the method. */
export function seriesTraces(series: Series[], reference: Series[], opts: SeriesTraceOptions): PlotlyTrace[] {
  const methods = [...new Set([...series, ...reference].map((s) => s.method))];
  const variantIndex = new Map<string, number>();
  const traces: PlotlyTrace[] = [];
  const shared = { xaxis: opts.xaxis ?? 'x', yaxis: opts.yaxis ?? 'y' };
  // Many overlapping bands turn to mud: fainter bands the more series there are.
  const bandAlpha = Math.max(0.06, Math.min(0.18, 0.6 / Math.max(1, series.length)));
  const bands = opts.bands ?? 'shown';
  for (const s of series) {
    const i = variantIndex.get(s.method) ?? 0;
    variantIndex.set(s.method, i + 1);
    const color = methodColor(s.method, methods);
    const xs = s.points.map((p) => p.x);
    if (bands !== 'none') traces.push({
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
      ...(bands === 'hidden' ? { visible: false } : {}),
    });
    traces.push({
      ...shared,
      type: 'scatter',
      mode: 'lines+markers',
      x: xs,
      y: s.points.map((p) => p.mean),
      customdata: s.points.map((p) => (opts.groupLabel ? [p.lo, p.hi, p.n, p.of] : [p.lo, p.hi, p.n])),
      hovertemplate: `${s.label}<br>${opts.groupLabel ? `${opts.groupLabel}=%{customdata[3]}, ` : ''}x=%{x}<br>mean ${opts.metricLabel} %{y:.4f}<br>${opts.bandLabel} %{customdata[0]:.4f}–%{customdata[1]:.4f}<br>%{customdata[2]} rows<extra></extra>`,
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
