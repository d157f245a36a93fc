/**
 * The standard figures of a passkey eval folder (what `clusterkv plot DIR` draws for one): accuracy vs
 * budget with dense as the ceiling, the depth x context heatmap per method at one budget, and needle recall
 * vs accuracy; and the report of a folder (HTML, PNG on request) in DIR/figures.
 */
import path from 'node:path';
import type * as aq from 'arquero';
import { readPasskeyEvalFolder } from '../model/passkey/eval-folder.js';
import type { PasskeyManifest } from '../model/passkey/eval-schema.js';
import type { Figure } from './figure.js';
import { writeReport, type PlotlyMode } from './html.js';
import { passkeyAccuracyFigure } from './passkey-accuracy.js';
import { passkeyHeatmapFigure } from './passkey-heatmap.js';
import { needleRecallAccuracyFigure } from './passkey-recall.js';
import { writeFigurePngs } from './png.js';

export interface PasskeyFiguresOptions {
  /** budget of the depth x context heatmap [the middle budget] */
  heatmapBudget?: number;
  subtitle?: string;
}

export function passkeyFigures(table: aq.ColumnTable, opts: PasskeyFiguresOptions = {}): Figure[] {
  const figures = [passkeyAccuracyFigure(table, { subtitle: opts.subtitle }), passkeyHeatmapFigure(table, { budget: opts.heatmapBudget, subtitle: opts.subtitle })];
  if ((table.array('budget') as unknown[]).some((b) => b !== null && b !== undefined)) figures.push(needleRecallAccuracyFigure(table, { subtitle: opts.subtitle }));
  return figures;
}

/** The model and filler a folder's manifest names, for titles. */
export function passkeySubtitle(manifest: PasskeyManifest): string {
  return `${manifest.model.name}, filler ${manifest.filler.name}`;
}

function notes(dir: string, table: aq.ColumnTable, m: PasskeyManifest): string[] {
  return [
    `results: ${path.resolve(dir, 'results.csv')} (${table.numRows()} rows: documents x methods x budgets)`,
    `model: ${m.model.path} (sha256 ${m.model.sha256.slice(0, 12)}), tokenizer ${m.tokenizer.path}, filler ${m.filler.name} (${m.filler.chars} characters), seed ${m.seed}`,
    `grid: contexts ${m.spec.contexts.join(', ')}; depths ${m.spec.depths.join(', ')}; ${m.spec.keys} keys; methods ${m.spec.methods.join(', ')}; budgets ${m.spec.budgets.join(', ')}`,
    `decoding: ${m.decoding}`,
    `backend: ${m.backend}; status: ${m.status}${m.finished ? ` (finished ${m.finished}, ${m.seconds} s)` : ''}`,
  ];
}

/** Writes the figures of the eval in `dir` to DIR/figures; returns the files written. */
export async function writePasskeyReport(dir: string, opts: { png?: boolean; heatmapBudget?: number; plotly?: PlotlyMode } = {}): Promise<string[]> {
  const { table, manifest } = readPasskeyEvalFolder(dir);
  const figures = passkeyFigures(table, { heatmapBudget: opts.heatmapBudget, subtitle: passkeySubtitle(manifest) });
  const outDir = path.join(dir, 'figures');
  const written: string[] = [];
  let png: Record<string, string> | undefined;
  if (opts.png) {
    const files = await writeFigurePngs(figures, outDir);
    written.push(...files);
    png = Object.fromEntries(figures.map((f, i) => [f.id, path.basename(files[i])]));
  }
  written.push(...writeReport(figures, outDir, { title: `ClusterKV Lab passkey eval: ${path.resolve(dir)}`, notes: notes(dir, table, manifest), png, plotly: opts.plotly }));
  return written;
}
