/**
 * `clusterkv plot DIR [--png]`: the standard figures of a sweep folder (DIR/results.csv, DIR/manifest.json)
 * as self-contained HTML in DIR/figures/ (one file per figure and index.html with all of them), plus PNGs
 * through headless Chromium with --png.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import type { Command } from 'commander';
import { writeReport } from '../../plot/html.js';
import { writeFigurePngs } from '../../plot/png.js';
import { sweepFigures, type SweepCellRecord } from '../../plot/sweep-figures.js';
import type { Band } from '../../plot/series.js';
import { csvTable } from '../../sim/csv-table.js';
import { UserError } from '../errors.js';
import { parseIntFlag } from '../parse.js';

interface PlotFlags {
  png?: boolean;
  band: string;
  budget?: string;
  denseLayers?: boolean;
}

interface SweepManifestView {
  kind?: string;
  trace?: { path?: string; source?: { name?: string }; contextLength?: number; steps?: number; model?: Record<string, unknown> };
  backend?: string;
  cells?: SweepCellRecord[];
  status?: string;
  finished?: string;
}

function readManifest(dir: string): SweepManifestView | undefined {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`${file} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof manifest !== 'object' || manifest === null || (manifest as SweepManifestView).kind !== 'clusterkv-sweep') {
    throw new UserError(`${file} is not a sweep manifest (expected "kind": "clusterkv-sweep")`);
  }
  return manifest as SweepManifestView;
}

function readResults(dir: string): aq.ColumnTable {
  const file = path.join(dir, 'results.csv');
  if (!existsSync(file)) throw new UserError(`${file} not found: DIR must be a sweep results folder (clusterkv sweep TRACE --out DIR)`);
  let table: aq.ColumnTable;
  try {
    table = csvTable(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`${file} is not a readable CSV (${(err as Error).message})`);
  }
  const needed = ['method', 'budget', 'layer', 'head', 'step', 'massRecall', 'topkRecall', 'outputRelError'];
  const missing = needed.filter((c) => !table.columnNames().includes(c));
  if (missing.length) throw new UserError(`${file} lacks column(s) ${missing.join(', ')}: not a sweep results table`);
  if (table.numRows() === 0) throw new UserError(`${file} has no rows`);
  return table;
}

function notes(dir: string, table: aq.ColumnTable, manifest: SweepManifestView | undefined): string[] {
  const out = [`results: ${path.resolve(dir, 'results.csv')} (${table.numRows()} rows)`];
  if (manifest?.trace) {
    const t = manifest.trace;
    out.push(`trace: ${t.path ?? '?'}${t.source?.name ? ` (${t.source.name})` : ''}, ${t.contextLength ?? '?'} tokens, ${t.steps ?? '?'} decode steps, model ${JSON.stringify(t.model ?? {})}`);
  }
  if (manifest) out.push(`backend: ${manifest.backend ?? '?'}; sweep status: ${manifest.status ?? '?'}${manifest.finished ? ` (finished ${manifest.finished})` : ''}`);
  return out;
}

export async function plotSweepFolder(dir: string, flags: PlotFlags): Promise<string[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder (expected a sweep results folder)`);
  if (flags.band !== 'p10-p90' && flags.band !== 'iqr') throw new UserError(`--band must be p10-p90 or iqr, got '${flags.band}'`);
  const manifest = readManifest(dir);
  const table = readResults(dir);
  const heatmapBudget = flags.budget !== undefined ? parseIntFlag('--budget', flags.budget, 1) : undefined;
  let figures;
  try {
    figures = sweepFigures(table, {
      subtitle: manifest?.trace?.source?.name ?? manifest?.trace?.path?.split(/[\\/]/).pop(),
      cells: manifest?.cells,
      band: flags.band as Band,
      heatmapBudget,
      includeDenseLayers: flags.denseLayers,
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'PlotError') throw new UserError(`${path.join(dir, 'results.csv')}: ${err.message}`);
    throw err;
  }
  const outDir = path.join(dir, 'figures');
  let png: Record<string, string> | undefined;
  const written: string[] = [];
  if (flags.png) {
    try {
      const files = await writeFigurePngs(figures, outDir);
      written.push(...files);
      png = Object.fromEntries(figures.map((f, i) => [f.id, path.basename(files[i])]));
    } catch (err) {
      if (err instanceof Error && err.name === 'PlotError') throw new UserError(err.message);
      throw err;
    }
  }
  written.push(...writeReport(figures, outDir, { title: `ClusterKV Lab sweep: ${path.resolve(dir)}`, notes: notes(dir, table, manifest), png }));
  return written;
}

export function register(program: Command): void {
  program
    .command('plot')
    .description('render the standard figures of a sweep folder into DIR/figures/ (HTML, index.html; PNG with --png)')
    .argument('<dir>', 'sweep results folder (holds results.csv and manifest.json)')
    .option('--png', 'also write PNG files (needs Chromium: /usr/bin/chromium or CLUSTERKV_CHROMIUM)')
    .option('--band <kind>', 'spread band over layers, heads and steps: p10-p90 or iqr', 'p10-p90')
    .option('--budget <n>', 'budget of the layer x head heatmap (default: the middle budget)')
    .option('--dense-layers', 'keep the dense first layers (layer < denseLayers) in the recall and error curves')
    .action(async (dir: string, flags: PlotFlags) => {
      const files = await plotSweepFolder(dir, flags);
      console.log(`wrote ${files.length} files to ${path.join(dir, 'figures')}: ${files.map((f) => path.basename(f)).join(', ')}`);
    });
}
