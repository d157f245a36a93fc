/**
 * A sweep's results folder, resumable and crash-safe (the one reader and writer of results-schema.ts):
 *   DIR/manifest.json                 SweepManifest: trace (path, sha256), selection, spec, cells, status
 *   DIR/cells/<cellId>/layer-<l>.csv  one finished (cell, layer): written to a temp file, then renamed
 *   DIR/results.csv, DIR/results.arrow  every finished row of the folder's cells, assembled at the end
 * A partial write never leaves a truncated file under a final name, so a re-run skips exactly what finished.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import type { z } from 'zod';
import { csvTable, resultsCsv } from './csv-table.js';
import { METRICS } from './metrics.js';
import { RESULT_COLUMNS, SWEEP_KIND, sweepManifestSchema, type SweepManifest } from './results-schema.js';

/** A results folder that cannot be read as a sweep (the message names the file and what is wrong). */
export class ResultsFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultsFolderError';
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function cellLayerFile(dir: string, cellId: string, layer: number): string {
  return path.join(dir, 'cells', cellId, `layer-${layer}.csv`);
}

export function hasCellLayer(dir: string, cellId: string, layer: number): boolean {
  return existsSync(cellLayerFile(dir, cellId, layer));
}

/** The text of one (cell, layer) file: RESULT_COLUMNS first (csv-table.ts's resultsTable). */
export function cellLayerCsv(rows: Record<string, unknown>[]): string {
  return resultsCsv(rows, RESULT_COLUMNS);
}

/** Writes a (cell, layer) file computed elsewhere (a worker process or a queue worker) as is. */
export function writeCellLayerCsv(dir: string, cellId: string, layer: number, csv: string): void {
  writeFileAtomic(cellLayerFile(dir, cellId, layer), csv);
}

export function readCellLayer(dir: string, cellId: string, layer: number): Record<string, unknown>[] {
  return csvTable(readFileSync(cellLayerFile(dir, cellId, layer), 'utf8')).objects() as Record<string, unknown>[];
}

export function manifestFile(dir: string): string {
  return path.join(dir, 'manifest.json');
}

/**
 * A run folder's manifest file of `kind`, checked against its schema; undefined when there is none. Anything
 * else is an error naming the file: not JSON, another kind of manifest (`what` names the expected one), or a
 * field the schema refuses (a manifest of another version).
 */
export function readManifestFile<T>(file: string, kind: string, schema: z.ZodType<T>, what: string): T | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ResultsFolderError(`${file} is not valid JSON (${(err as Error).message}); move it away or choose another folder`);
  }
  if ((value as { kind?: unknown } | null)?.kind !== kind) throw new ResultsFolderError(`${file} is not ${what} (expected "kind": "${kind}"); choose another folder`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ResultsFolderError(`${file}: field '${issue.path.join('.') || '(root)'}' ${issue.message.toLowerCase()} (written by another version of clusterkv-lab? re-run into a new folder)`);
  }
  return parsed.data;
}

/** The folder's manifest, or undefined when there is none; anything else that is not one is an error. */
export function readSweepManifest(dir: string): SweepManifest | undefined {
  return readManifestFile(manifestFile(dir), SWEEP_KIND, sweepManifestSchema, 'a sweep manifest');
}

export function writeSweepManifest(dir: string, manifest: SweepManifest): void {
  writeFileAtomic(manifestFile(dir), JSON.stringify(sweepManifestSchema.parse(manifest), null, 2));
}

/** DIR/results.csv and DIR/results.arrow of a results table (a sweep's or a passkey eval's finished rows). */
export function writeResultsTable(dir: string, table: aq.ColumnTable): void {
  writeFileAtomic(path.join(dir, 'results.csv'), aq.toCSV(table));
  writeFileAtomic(path.join(dir, 'results.arrow'), aq.toArrowIPC(table));
}

export interface SweepFolder {
  dir: string;
  /** absent for a bare results.csv (a table made elsewhere, in the same columns) */
  manifest?: SweepManifest;
  /** every row; column types as written (from the Arrow file when there is one) */
  table: aq.ColumnTable;
}

/**
 * Reads a finished sweep folder: its manifest and results. A folder whose sweep did not finish is an error
 * that says how far it got (unless `allowUnfinished`, for looking at partial results); a results.csv without
 * a manifest is read as a table in the same columns.
 */
export function readSweepFolder(dir: string, opts: { allowUnfinished?: boolean } = {}): SweepFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ResultsFolderError(`${dir}: no such folder (expected a sweep results folder: clusterkv sweep TRACE --out DIR)`);
  const manifest = readSweepManifest(dir);
  if (manifest && manifest.status !== 'complete' && !opts.allowUnfinished) {
    const { done, total } = manifest.progress;
    throw new ResultsFolderError(`${dir}: sweep not finished (${manifest.status}: ${done} of ${total} cell-layers done${manifest.error ? `; ${manifest.error}` : ''}); re-run the same sweep command to finish it`);
  }
  const arrow = path.join(dir, 'results.arrow');
  const csv = path.join(dir, 'results.csv');
  let table: aq.ColumnTable;
  if (manifest && existsSync(arrow)) table = aq.fromArrow(readFileSync(arrow));
  else if (existsSync(csv)) {
    try {
      table = csvTable(readFileSync(csv, 'utf8'));
    } catch (err) {
      throw new ResultsFolderError(`${csv} is not a readable CSV (${(err as Error).message})`);
    }
  } else throw new ResultsFolderError(`${csv} not found: ${dir} must be a sweep results folder (clusterkv sweep TRACE --out DIR)`);
  const missing = REQUIRED_COLUMNS.filter((c) => !table.columnNames().includes(c));
  if (missing.length) throw new ResultsFolderError(`${csv} lacks column(s) ${missing.join(', ')}: not a sweep results table`);
  return { dir, manifest, table };
}

/** Columns every reader of results relies on: where a row sits, and the metrics the figures draw. */
export const REQUIRED_COLUMNS: readonly string[] = ['method', 'budget', 'layer', 'head', 'step', ...METRICS.filter((m) => m.summarized && m.where === 'device').map((m) => m.name)];
