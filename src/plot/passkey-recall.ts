/**
 * Needle recall vs passkey accuracy: does accuracy follow how much of the dense attention on the key the
 * selection kept? One marker per method variant and budget (x: its mean key mass recall, y: its accuracy;
 * colour by method, size by budget), and over every budgeted document-cell pooled, the accuracy of the rows
 * in each recall bin (black line).
 * Input: a passkey eval table with columns method, budget, correct and the recall metric.
 */
import * as aq from 'arquero';
import { NEEDLE_METRIC_MEANING, type NeedleMetric } from '../model/passkey/needle-recall.js';
import { numberOrNull, requireColumns } from './columns.js';
import { PlotError } from './errors.js';
import type { Figure, PlotlyTrace } from './figure.js';
import { passkeyVariantColumns } from '../model/passkey/summary.js';
import { variantSymbol } from './passkey-accuracy.js';
import { seriesLabel } from './series.js';
import { axis, baseLayout, methodColor } from './style.js';

/** Short axis notes (the full meanings are too long for an axis title). */
const AXIS_NOTE: Partial<Record<NeedleMetric, string>> = {
  keyMassRecall: "share of the key digits' dense attention kept",
  needleMassRecall: "share of the needle's dense attention kept",
  keyCoverage: "share of the key digits' tokens selected",
  needleCoverage: "share of the needle's tokens selected",
};

export interface NeedleRecallAccuracyOptions {
  /** the recall on the x axis ['keyMassRecall'] */
  metric?: NeedleMetric;
  /** bins of the pooled line [10, equal width over [0, 1]] */
  bins?: number;
  subtitle?: string;
  id?: string;
}

export function needleRecallAccuracyFigure(table: aq.ColumnTable, opts: NeedleRecallAccuracyOptions = {}): Figure {
  const metric = opts.metric ?? 'keyMassRecall';
  requireColumns(table, ['method', 'budget', 'correct', metric], 'needle recall vs accuracy');
  const variant = passkeyVariantColumns(table);
  const budgeted = table.filter(aq.escape((d: Record<string, unknown>) => numberOrNull(d.budget) !== null && numberOrNull(d[metric]) !== null));
  if (budgeted.numRows() === 0) throw new PlotError('needle recall vs accuracy: no budgeted row with a needle recall');
  const points = budgeted.groupby(...variant, 'budget').rollup({ recall: aq.op.mean(metric), accuracy: aq.op.mean('correct'), documents: aq.op.count() }).objects() as Record<string, unknown>[];
  const methods = [...new Set(table.array('method') as string[])];
  const budgets = [...new Set(points.map((p) => Number(p.budget)))].sort((a, b) => a - b);
  const size = (b: number) => 8 + (budgets.length > 1 ? (10 * budgets.indexOf(b)) / (budgets.length - 1) : 0);
  const byLabel = new Map<string, { method: string; pts: Record<string, unknown>[] }>();
  for (const p of points) {
    const label = seriesLabel(String(p.method), Object.fromEntries(variant.slice(1).map((k) => [k, p[k]])));
    if (!byLabel.has(label)) byLabel.set(label, { method: String(p.method), pts: [] });
    byLabel.get(label)!.pts.push(p);
  }
  const data: PlotlyTrace[] = [];
  const variantIndex = new Map<string, number>();
  for (const [label, { method, pts }] of byLabel) {
    // variants of one method share its colour and differ by marker symbol
    const symbol = variantSymbol(variantIndex.get(method) ?? 0);
    variantIndex.set(method, (variantIndex.get(method) ?? 0) + 1);
    pts.sort((a, b) => Number(a.budget) - Number(b.budget));
    const color = methodColor(method, methods);
    data.push({
      type: 'scatter', mode: 'markers+text', name: label,
      x: pts.map((p) => Number(p.recall)), y: pts.map((p) => Number(p.accuracy)),
      text: pts.map((p) => `${p.budget}`), textposition: 'top center', textfont: { size: 10, color },
      customdata: pts.map((p) => [p.budget, p.documents]),
      marker: { color, symbol, size: pts.map((p) => size(Number(p.budget))), line: { color: 'white', width: 1 }, opacity: 0.85 },
      hovertemplate: `${label}<br>B=%{customdata[0]}: ${metric} %{x:.3f}, accuracy %{y:.3f}<br>%{customdata[1]} documents<extra></extra>`,
    });
  }
  // pooled: accuracy of the budgeted rows in each recall bin
  const bins = opts.bins ?? 10;
  const counts = Array.from({ length: bins }, () => ({ n: 0, correct: 0, recall: 0 }));
  for (const r of budgeted.objects() as Record<string, unknown>[]) {
    const x = Math.min(1, Math.max(0, Number(r[metric])));
    const b = counts[Math.min(bins - 1, Math.floor(x * bins))];
    b.n++;
    b.correct += Number(r.correct);
    b.recall += x;
  }
  const filled = counts.filter((b) => b.n > 0);
  data.push({
    type: 'scatter', mode: 'lines+markers', name: `all budgeted rows, binned (${bins} bins)`,
    x: filled.map((b) => b.recall / b.n), y: filled.map((b) => b.correct / b.n), customdata: filled.map((b) => b.n),
    line: { color: '#222', width: 1.5, dash: 'dash' }, marker: { color: '#222', size: 5, symbol: 'square' },
    hovertemplate: `rows with ${metric} in this bin: mean %{x:.3f}, accuracy %{y:.3f} over %{customdata} rows<extra></extra>`,
  });
  const title = `Passkey accuracy vs needle recall, per method and budget${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  return {
    id: opts.id ?? `passkey-accuracy-vs-${metric === 'keyMassRecall' ? 'key-recall' : metric.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    title,
    data,
    layout: baseLayout(title, {
      xaxis: axis(`${metric} (${AXIS_NOTE[metric] ?? NEEDLE_METRIC_MEANING[metric]})`, { range: [-0.02, 1.02] }),
      yaxis: axis('passkey accuracy (exact answers)', { range: [-0.02, 1.06] }),
      legend: { title: { text: 'method (marker size and label: budget B;<br>variants of a method: symbols)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 },
    }, 'recall over the sparse layers and answer steps, pooled over query heads; dense attention (full) is 1 on both axes and not drawn', 1000),
    width: 1000,
    height: 600,
  };
}
