/**
 * A sweep's results folder, resumable and crash-safe:
 *   DIR/manifest.json                 trace (path, sha256), spec, seed, backend, versions, cells
 *   DIR/cells/<cellId>/layer-<l>.csv  one finished (cell, layer): written to a temp file, then renamed
 *   DIR/results.csv, DIR/results.arrow  every finished row of the spec's cells, assembled at the end
 * A partial write never leaves a truncated file under a final name, so a re-run skips exactly what finished.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { csvTable } from './csv-table.js';

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

/** Leading columns of results.csv, in order; method parameters and method stats follow alphabetically. */
export const RESULT_COLUMNS = [
  'method', 'clusters', 'budget', 'budgetMode', 'layer', 'head', 'step', 'position',
  'massRecall', 'topkRecall', 'outputRelError', 'outputCosine', 'density', 'tokensAttended', 'tokensLoaded', 'clustersTouched',
] as const;

/** Orders and fills columns so that every row has the same columns (missing -> null). */
export function rowsToTable(rows: Record<string, unknown>[]): aq.ColumnTable {
  const extra = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) if (!(RESULT_COLUMNS as readonly string[]).includes(key)) extra.add(key);
  const columns = [...RESULT_COLUMNS, ...[...extra].sort()];
  const data: Record<string, unknown[]> = {};
  for (const c of columns) data[c] = rows.map((r) => (r[c] === undefined ? null : r[c]));
  return aq.table(data);
}

export function writeCellLayer(dir: string, cellId: string, layer: number, rows: Record<string, unknown>[]): void {
  writeFileAtomic(cellLayerFile(dir, cellId, layer), aq.toCSV(rowsToTable(rows)));
}

export function readCellLayer(dir: string, cellId: string, layer: number): Record<string, unknown>[] {
  return csvTable(readFileSync(cellLayerFile(dir, cellId, layer), 'utf8')).objects() as Record<string, unknown>[];
}

export function readJsonIfExists<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new RangeError(`${file} is not valid JSON (${(err as Error).message}); move it away or choose another --out`);
  }
}
