/**
 * Passkey accuracy vs token budget: one line per method variant (method plus the parameters that vary, e.g.
 * ClusterKV's tokens per cluster and scoring), one panel per context (and one over all contexts when there
 * are several), dense attention (method full, no budget) as the dotted ceiling.
 * Input: a passkey eval table (src/model/passkey/eval-schema.ts): method, budget, context, correct and the
 * parameter columns.
 */
import * as aq from 'arquero';
import { passkeyVariantColumns } from '../model/passkey/summary.js';
import { BUDGET_AXIS_TITLE, budgetModeNote } from './budget-note.js';
import { numberOrNull, requireColumns } from './columns.js';
import type { Figure, PlotlyLayout, PlotlyTrace } from './figure.js';
import { seriesLabel } from './series.js';
import { axis, baseLayout, budgetAxis, methodColor, variantDash } from './style.js';

const SYMBOLS = ['circle', 'square', 'diamond', 'triangle-up', 'x', 'star', 'triangle-down', 'cross'];

/** The marker symbol of the i-th variant of a method (variants share the method's colour). */
export function variantSymbol(i: number): string {
  return SYMBOLS[i % SYMBOLS.length];
}

/** A layout with room above the plot area for panel titles (annotations at the top of each panel). */
export function withPanelTitles(layout: PlotlyLayout): PlotlyLayout {
  const margin = layout.margin as Record<string, number>;
  return { ...layout, margin: { ...margin, t: margin.t + 24 } };
}

export interface PasskeyAccuracyOptions {
  subtitle?: string;
  id?: string;
}

interface Point {
  budget: number;
  accuracy: number;
  documents: number;
  keyMassRecall: number | null;
}

/** Mean accuracy per variant and budget of `rows` (budgeted rows only), and dense accuracy (full). */
function accuracyLines(rows: aq.ColumnTable, variant: string[]): { lines: Map<string, { method: string; points: Point[] }>; dense?: { accuracy: number; documents: number } } {
  const budgeted = rows.filter(aq.escape((d: Record<string, unknown>) => numberOrNull(d.budget) !== null));
  const grouped = budgeted.numRows()
    ? (budgeted.groupby(...variant, 'budget').rollup({ accuracy: aq.op.mean('correct'), documents: aq.op.count(), keyMassRecall: aq.op.mean('keyMassRecall') }).objects() as Record<string, unknown>[])
    : [];
  const lines = new Map<string, { method: string; points: Point[] }>();
  for (const g of grouped) {
    const params = Object.fromEntries(variant.slice(1).map((c) => [c, g[c]]));
    const label = seriesLabel(String(g.method), params);
    if (!lines.has(label)) lines.set(label, { method: String(g.method), points: [] });
    lines.get(label)!.points.push({ budget: Number(g.budget), accuracy: Number(g.accuracy), documents: Number(g.documents), keyMassRecall: numberOrNull(g.keyMassRecall) });
  }
  for (const l of lines.values()) l.points.sort((a, b) => a.budget - b.budget);
  const full = rows.filter(aq.escape((d: Record<string, unknown>) => d.method === 'full'));
  const dense = full.numRows() ? (full.rollup({ accuracy: aq.op.mean('correct'), documents: aq.op.count() }).object() as { accuracy: number; documents: number }) : undefined;
  return { lines, dense };
}

export function passkeyAccuracyFigure(table: aq.ColumnTable, opts: PasskeyAccuracyOptions = {}): Figure {
  requireColumns(table, ['method', 'budget', 'context', 'correct'], 'passkey accuracy vs budget');
  const variant = passkeyVariantColumns(table);
  const contexts = [...new Set(table.array('context') as number[])].map(Number).sort((a, b) => a - b);
  const panels: { title: string; rows: aq.ColumnTable }[] = contexts.map((c) => ({ title: `context ${c} tokens`, rows: table.filter(aq.escape((d: Record<string, unknown>) => Number(d.context) === c)) }));
  if (contexts.length > 1) panels.push({ title: `all contexts (${contexts.join(', ')})`, rows: table });
  const budgets = [...new Set((table.array('budget') as unknown[]).map(numberOrNull).filter((b): b is number => b !== null))].sort((a, b) => a - b);
  const methods = [...new Set(table.array('method') as string[])];
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  const gap = 0.05;
  const w = (1 - gap * (panels.length - 1)) / panels.length;
  const variantIndex = new Map<string, number>();
  const indexOf = (label: string, method: string) => {
    if (!variantIndex.has(label)) variantIndex.set(label, [...variantIndex.keys()].filter((l) => l.split(' ')[0] === method).length);
    return variantIndex.get(label)!;
  };
  panels.forEach((panel, i) => {
    const n = i === 0 ? '' : String(i + 1);
    const { lines, dense } = accuracyLines(panel.rows, variant);
    for (const [label, line] of lines) {
      const color = methodColor(line.method, methods);
      data.push({
        type: 'scatter', mode: 'lines+markers', xaxis: `x${n}`, yaxis: `y${n}`,
        x: line.points.map((p) => p.budget), y: line.points.map((p) => p.accuracy),
        customdata: line.points.map((p) => [p.documents, p.keyMassRecall]),
        hovertemplate: `${label}<br>B=%{x}: accuracy %{y:.3f}<br>%{customdata[0]} documents, key mass recall %{customdata[1]:.3f}<extra>${panel.title}</extra>`,
        line: { color, width: 2.5, dash: variantDash(indexOf(label, line.method)) }, marker: { color, size: 8, symbol: variantSymbol(indexOf(label, line.method)) },
        name: label, legendgroup: label, showlegend: i === 0,
      });
    }
    if (dense && budgets.length) {
      data.push({
        type: 'scatter', mode: 'lines', xaxis: `x${n}`, yaxis: `y${n}`,
        x: [budgets[0], budgets[budgets.length - 1]], y: [dense.accuracy, dense.accuracy],
        line: { color: methodColor('full', methods), width: 2, dash: 'dot' },
        hovertemplate: `full (dense): accuracy %{y:.3f} over ${dense.documents} documents<extra>${panel.title}</extra>`,
        name: 'full (dense, no budget): the ceiling', legendgroup: 'full', showlegend: i === 0,
      });
    }
    const x0 = i * (w + gap);
    layout[`xaxis${n}`] = { ...budgetAxis(BUDGET_AXIS_TITLE, budgets), domain: [x0, x0 + w], anchor: `y${n}` };
    layout[`yaxis${n}`] = axis(i === 0 ? 'passkey accuracy (exact answers)' : 'accuracy', { range: [-0.02, 1.04], anchor: `x${n}` });
    annotations.push({ text: `<b>${panel.title}</b>`, x: x0 + w / 2, y: 1, xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 14 } });
  });
  const title = `Passkey retrieval accuracy vs token budget, per method${opts.subtitle ? ` — ${opts.subtitle}` : ''}`;
  const width = Math.max(900, 420 * panels.length + 260);
  return {
    id: opts.id ?? 'passkey-accuracy-vs-budget',
    title,
    data,
    layout: withPanelTitles(baseLayout(title, { ...layout, annotations, legend: { title: { text: 'method (dotted: dense ceiling)' }, bgcolor: 'rgba(255,255,255,0.9)', bordercolor: '#ccc', borderwidth: 1 } },
      `exact greedy answer; first answer token from the dense prefill${budgetModeNote(table)?.startsWith('B counts selected') ? '; B: selected tokens, sinks and window on top' : budgetModeNote(table) ? ` | ${budgetModeNote(table)}` : ''}`, width)),
    width,
    height: 560,
  };
}
