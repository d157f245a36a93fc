/**
 * `clusterkv plot DIR [--png]`: the standard figures of a sweep folder (DIR/results.csv, DIR/manifest.json)
 * as offline HTML in DIR/figures/ (one file per figure, index.html with all of them, and plotly.min.js once,
 * which every page loads; --inline-plotly puts it into each page instead), plus PNGs through headless
 * Chromium with --png.
 */
import path from 'node:path';
import * as aq from 'arquero';
import type { Command } from 'commander';
import { writeReport } from '../../plot/html.js';
import { tableBudgets } from '../../plot/recall-heatmap.js';
import { writeFigurePngs } from '../../plot/png.js';
import { AUTO_BAND_SERIES } from '../../plot/series-traces.js';
import { isPasskeyEvalFolder } from '../../model/passkey/eval-folder.js';
import { writePasskeyReport } from '../../plot/passkey-figures.js';
import { sweepFigures, type SweepCellRecord } from '../../plot/sweep-figures.js';
import type { Band } from '../../plot/series.js';
import { readSweepFolder, ResultsFolderError } from '../../sim/results-folder.js';
import type { SweepManifest } from '../../sim/results-schema.js';
import { checkOutputFolder, UserError } from '../errors.js';
import { parseIntFlag } from '../parse.js';
import { count } from '../table.js';

interface PlotFlags {
  png?: boolean;
  band: string;
  bands?: string;
  budget?: string;
  denseLayers?: boolean;
  inlinePlotly?: boolean;
  json?: boolean;
}

const BANDS = ['auto', 'on', 'off'] as const;

/** The sweep's rows; a folder that holds no finished sweep is a one-line error. */
function readResults(dir: string): { table: aq.ColumnTable; manifest?: SweepManifest } {
  let folder;
  try {
    folder = readSweepFolder(dir);
  } catch (err) {
    if (err instanceof ResultsFolderError) throw new UserError(err.message);
    throw err;
  }
  if (folder.table.numRows() === 0) throw new UserError(`${path.join(dir, 'results.csv')} has no rows`);
  return { table: folder.table, manifest: folder.manifest };
}

/** The trace's name as its manifest records it (synthetic and captured traces name their source). */
function sourceName(manifest: SweepManifest): string | undefined {
  const name = manifest.trace.source.name;
  return typeof name === 'string' ? name : undefined;
}

function notes(dir: string, table: aq.ColumnTable, manifest: SweepManifest | undefined): string[] {
  const out = [`results: ${path.resolve(dir, 'results.csv')} (${count(table.numRows(), 'row')})`];
  if (!manifest) return [...out, 'no manifest.json: trace and backend unknown'];
  const t = manifest.trace;
  const name = sourceName(manifest);
  return [
    ...out,
    `trace: ${t.path}${name ? ` (${name})` : ''}, ${t.contextLength} tokens, ${t.steps} decode steps, model ${JSON.stringify(t.model)}`,
    `backend: ${manifest.backend}; sweep status: ${manifest.status}${manifest.finished ? ` (finished ${manifest.finished})` : ''}`,
  ];
}

export async function plotSweepFolder(dir: string, flags: PlotFlags): Promise<string[]> {
  if (flags.band !== 'p10-p90' && flags.band !== 'iqr' && flags.band !== 'none') throw new UserError(`--band must be p10-p90, iqr or none, got '${flags.band}'`);
  const bands = flags.bands ?? 'auto';
  if (!(BANDS as readonly string[]).includes(bands)) throw new UserError(`--bands must be ${BANDS.join(', ')}, got '${bands}'`);
  // a passkey eval folder (clusterkv eval passkey) has figures of its own
  if (isPasskeyEvalFolder(dir)) {
    checkOutputFolder(path.join(dir, 'figures'), 'figures folder');
    return writePasskeyReport(dir, { png: flags.png, heatmapBudget: flags.budget !== undefined ? parseIntFlag('--budget', flags.budget, 1) : undefined, plotly: flags.inlinePlotly ? 'inline' : 'file' });
  }
  const { table, manifest } = readResults(dir);
  const heatmapBudget = flags.budget !== undefined ? parseIntFlag('--budget', flags.budget, 1) : undefined;
  const budgets = tableBudgets(table);
  if (heatmapBudget !== undefined && !budgets.includes(heatmapBudget)) {
    throw new UserError(`--budget ${heatmapBudget}: no results at that budget in ${path.join(dir, 'results.csv')} (budgets present: ${budgets.join(', ') || 'none'})`);
  }
  const outDir = path.join(dir, 'figures');
  checkOutputFolder(outDir, 'figures folder');
  let figures;
  try {
    figures = sweepFigures(table, {
      subtitle: manifest ? (sourceName(manifest) ?? manifest.trace.path.split(/[\\/]/).pop()) : undefined,
      cells: manifest?.cells,
      band: flags.band === 'none' ? 'p10-p90' : (flags.band as Band),
      bands: flags.band === 'none' ? 'none' : ({ auto: 'auto', on: 'shown', off: 'hidden' } as const)[bands as (typeof BANDS)[number]],
      heatmapBudget,
      includeDenseLayers: flags.denseLayers,
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'PlotError') throw new UserError(`${path.join(dir, 'results.csv')}: ${err.message}`);
    throw err;
  }
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
  written.push(...writeReport(figures, outDir, { title: `ClusterKV Lab sweep: ${path.resolve(dir)}`, notes: notes(dir, table, manifest), png, plotly: flags.inlinePlotly ? 'inline' : 'file' }));
  return written;
}

export function register(program: Command): void {
  program
    .command('plot')
    .description('render the standard figures of a sweep folder (or a passkey eval folder) into DIR/figures/ (HTML, index.html; PNG with --png)')
    .argument('<dir>', 'sweep or passkey eval results folder (holds results.csv and manifest.json)')
    .option('--png', 'also write PNG files (needs Chromium: /usr/bin/chromium or CLUSTERKV_CHROMIUM)')
    .option('--band <kind>', 'spread band over layers, heads and steps: p10-p90, iqr, or none', 'p10-p90')
    .option('--bands <when>', `show the bands: auto (for up to ${AUTO_BAND_SERIES} series; more are off, one click away), on or off (a button toggles them)`, 'auto')
    .option('--budget <n>', 'budget of the layer x head heatmap (passkey: of the depth x context heatmap; default: the middle budget)')
    .option('--dense-layers', 'keep the dense first layers (layer < denseLayers) in the recall and error curves')
    .option('--inline-plotly', 'put plotly.js into every HTML file (each stands alone, ~4.6 MB) instead of one figures/plotly.min.js')
    .option('--json', 'print the files written as JSON')
    .action(async (dir: string, flags: PlotFlags) => {
      const files = await plotSweepFolder(dir, flags);
      if (flags.json) {
        console.log(JSON.stringify({ dir: path.join(dir, 'figures'), files }, null, 2));
        return;
      }
      console.log(`wrote ${count(files.length, 'file')} to ${path.join(dir, 'figures')}: ${files.map((f) => path.basename(f)).join(', ')}`);
    });
}
