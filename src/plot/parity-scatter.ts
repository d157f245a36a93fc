/**
 * Parity of two readings of the same numbers (e.g. values written in TypeScript and read back by Python):
 * one point per value, x the first reading, y the second, grouped by what the value is, with the y = x line.
 * Points on the line agree.
 * Input table: the x and y columns and a group column.
 */
import type * as aq from 'arquero';
import { requireColumns } from './columns.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { axis, baseLayout } from './style.js';

const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#882255', '#000000'];
/** Open symbols of growing size: groups whose points coincide (as they should) stay visible around each other. */
const SYMBOLS = ['circle-open', 'square-open', 'diamond-open', 'triangle-up-open', 'cross-thin-open', 'x-thin-open', 'star-open', 'hexagon-open'];

export interface ParityScatterOptions {
  x: string;
  y: string;
  group: string;
  xTitle: string;
  yTitle: string;
  /** what is compared, the figure title */
  what: string;
  id: string;
  subtitle?: string;
}

export function parityScatterFigure(table: aq.ColumnTable, opts: ParityScatterOptions): Figure {
  requireColumns(table, [opts.x, opts.y, opts.group], 'parity scatter');
  const rows = table.objects() as Record<string, unknown>[];
  const groups = [...new Set(rows.map((r) => String(r[opts.group])))];
  const data: PlotlyTrace[] = groups.map((g, i) => {
    const pts = rows.filter((r) => String(r[opts.group]) === g);
    return {
      type: 'scatter', mode: 'markers', name: `${g} (${pts.length})`,
      x: pts.map((r) => Number(r[opts.x])), y: pts.map((r) => Number(r[opts.y])),
      marker: { color: COLORS[i % COLORS.length], symbol: SYMBOLS[i % SYMBOLS.length], size: 8 + 3 * (i % 4), line: { width: 2, color: COLORS[i % COLORS.length] } },
      hovertemplate: `${g}<br>${opts.x} %{x:.6g}<br>${opts.y} %{y:.6g}<extra></extra>`,
    };
  });
  const all = rows.flatMap((r) => [Number(r[opts.x]), Number(r[opts.y])]).filter(Number.isFinite);
  const lo = all.length ? Math.min(...all) : 0;
  const hi = all.length ? Math.max(...all) : 1;
  data.push({ type: 'scatter', mode: 'lines', name: 'y = x (agreement)', x: [lo, hi], y: [lo, hi], line: { color: '#444', dash: 'dash', width: 1.5 }, hoverinfo: 'skip' });
  const diffs = rows.map((r) => Math.abs(Number(r[opts.x]) - Number(r[opts.y]))).filter(Number.isFinite);
  const maxDiff = diffs.length ? Math.max(...diffs) : NaN;
  const title = `${opts.what}${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = 900;
  return {
    id: opts.id,
    title,
    data,
    layout: baseLayout(title, {
      xaxis: axis(opts.xTitle),
      yaxis: axis(opts.yTitle),
      legend: { title: { text: `${opts.group} (values)` }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, `${rows.length} values; largest |difference| ${Number.isFinite(maxDiff) ? maxDiff.toExponential(2) : 'n/a'}`, width),
    width,
    height: 620,
  };
}
