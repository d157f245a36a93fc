/** Shared look of every figure: fonts, margins, one colour per method, dashes for a method's variants. */
import type { PlotlyLayout } from './figure.js';

/** Colour-blind-friendly palette (Okabe-Ito plus two); known methods keep their colour across figures (every registered one has its own). */
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
  infinigen: '#882255',
  'clusterkv-refine': '#332288',
  // a -topp wrapper (adaptive budgets) in a lighter shade of the method it wraps
  'oracle-topp': '#555555',
  'clusterkv-topp': '#6CA6D9',
  'quest-topp': '#F4A582',
  'infllm-topp': '#7FC9B0',
  'infinigen-topp': '#CC6677',
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

const TITLE_SIZE = 18;
const SUBTITLE_SIZE = 13;
/** Average glyph width of Helvetica/Arial in em (a little generous, so that lines rather wrap than clip). */
const EM_PER_CHAR = 0.56;

/**
 * Breaks `text` into lines of at most `maxChars`, at the separators given (in order of preference) or else at
 * spaces; plotly draws a title on one line and clips what passes the figure's right edge.
 */
export function wrapText(text: string, maxChars: number, separators: string[] = [', ', '; ', ': ']): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > maxChars) {
    let cut = -1;
    for (const sep of [...separators, ' ']) {
      const at = rest.lastIndexOf(sep, maxChars - sep.trimEnd().length);
      if (at > maxChars / 3) {
        cut = at + sep.trimEnd().length;
        break;
      }
    }
    if (cut < 0) cut = maxChars;
    lines.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  lines.push(rest);
  return lines;
}

/**
 * A base layout: title (what it shows on the first line, then in smaller type what follows ' — ' in the title
 * and `subtitle`), wrapped to the figure's `width` so nothing is cut at the right edge; white background,
 * light grid, legend on the right.
 */
export function baseLayout(title: string, extra: PlotlyLayout = {}, subtitle?: string, width = 700): PlotlyLayout {
  const [head, ...tail] = title.split(' — ');
  const usable = width * 0.94;
  const headLines = wrapText(head, Math.floor(usable / (TITLE_SIZE * EM_PER_CHAR)));
  const smallLines = [tail.join(' — '), subtitle ?? ''].filter(Boolean).flatMap((t) => wrapText(t, Math.floor(usable / (SUBTITLE_SIZE * EM_PER_CHAR)), ['; ', ', ', ': ']));
  const text = [...headLines, ...smallLines.map((l) => `<span style="font-size:${SUBTITLE_SIZE}px;color:#555">${l}</span>`)].join('<br>');
  // the title hangs from the top; below it, room for the buttons of updatemenus (e.g. the band toggle)
  const buttons = Array.isArray(extra.updatemenus) && extra.updatemenus.length > 0;
  const top = 24 + headLines.length * 24 + smallLines.length * 18 + (buttons ? 34 : 0);
  const margin = { l: 80, r: 30, t: 80, b: 70, ...(extra.margin as Record<string, number> | undefined) };
  margin.t = Math.max(margin.t, top);
  return {
    font: FONT,
    paper_bgcolor: 'white',
    plot_bgcolor: 'white',
    legend: { bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    hovermode: 'closest',
    ...extra,
    title: { text, x: 0.02, xanchor: 'left', yref: 'container', y: 1, yanchor: 'top', pad: { t: 18 }, font: { size: TITLE_SIZE } },
    margin,
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
