/** Shared look of every figure: fonts, margins, one colour per method, dashes for a method's variants. */
import type { PlotlyLayout } from './figure.js';

/** Colour-blind-friendly palette (Okabe-Ito plus two); known methods keep their colour across figures. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000', '#999999', '#882255'];
const METHOD_COLORS: Record<string, string> = {
  clusterkv: '#0072B2',
  oracle: '#000000',
  full: '#999999',
  quest: '#D55E00',
  infllm: '#009E73',
  h2o: '#CC79A7',
  streaming: '#E69F00',
  random: '#56B4E9',
};
const DASHES = ['solid', 'dash', 'dot', 'dashdot', 'longdash', 'longdashdot'];

export function methodColor(method: string, order: string[]): string {
  if (METHOD_COLORS[method]) return METHOD_COLORS[method];
  const unknown = order.filter((m) => !METHOD_COLORS[m]);
  const i = Math.max(0, unknown.indexOf(method));
  return PALETTE[(i + 3) % PALETTE.length];
}

/** The dash of the i-th variant (e.g. cluster count) of a method. */
export function variantDash(i: number): string {
  return DASHES[i % DASHES.length];
}

/** '#rrggbb' -> 'rgba(r,g,b,alpha)' for translucent bands. */
export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

export const FONT = { family: 'Helvetica, Arial, sans-serif', size: 14, color: '#222' };

/** A base layout: title (with an optional smaller second line), white background, light grid, legend on the right. */
export function baseLayout(title: string, extra: PlotlyLayout = {}, subtitle?: string): PlotlyLayout {
  const text = subtitle ? `${title}<br><span style="font-size:13px;color:#555">${subtitle}</span>` : title;
  return {
    title: { text, x: 0.02, xanchor: 'left', font: { size: 18 } },
    font: FONT,
    paper_bgcolor: 'white',
    plot_bgcolor: 'white',
    margin: { l: 80, r: 30, t: 80, b: 70 },
    legend: { bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    hovermode: 'closest',
    ...extra,
  };
}

/** An axis with a title (name and unit), grid and outline. */
export function axis(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: { text: title },
    showgrid: true,
    gridcolor: '#e5e5e5',
    zeroline: false,
    showline: true,
    linecolor: '#444',
    mirror: true,
    ticks: 'outside',
    automargin: true,
    // Log axes: label 1, 2, 5 per decade only (plotly's default labels every digit, which clutters).
    ...(extra.type === 'log' && extra.tickvals === undefined ? { dtick: 'D2' } : {}),
    ...extra,
  };
}

/** A budget axis: log2 scale with a tick at every budget that occurs. */
export function budgetAxis(title: string, budgets: number[]): Record<string, unknown> {
  const ticks = [...new Set(budgets)].sort((a, b) => a - b);
  return axis(title, { type: 'log', tickvals: ticks, ticktext: ticks.map(String) });
}

/**
 * Ticks 1, 2, 5 x 10^k (10^k only over more than four decades) covering the positive values, labelled in full (plotly's own log ticks label minor
 * ticks with a single digit, '5' for 50, which reads wrong). For log axes.
 */
export function logTicks(values: number[]): { tickvals: number[]; ticktext: string[] } {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return { tickvals: [], ticktext: [] };
  const lo = Math.min(...positive);
  const hi = Math.max(...positive);
  const ticks: number[] = [];
  // past four decades, 1-2-5 ticks crowd the axis: powers of ten only
  const mantissas = Math.log10(hi / lo) > 4 ? [1] : [1, 2, 5];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(6)); // 1e-5, not 0.000009999999999999999
      if (v >= lo / 2.5 && v <= hi * 2.5) ticks.push(v);
    }
  }
  return { tickvals: ticks, ticktext: ticks.map((v) => String(Number(v.toPrecision(3)))) };
}
