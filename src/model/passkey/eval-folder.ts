/**
 * A passkey eval's folder, resumable and crash-safe (the one reader and writer of eval-schema.ts), built on
 * the sweep folder's helpers (atomic writes):
 *   DIR/manifest.json               PasskeyManifest
 *   DIR/documents/<id>.json         the built document (text, tokens, answer, needle positions)
 *   DIR/rows/<id>.csv               the document's finished cells, rewritten (temp file + rename) after each
 *   DIR/steps/<id>.csv              their per-step needle recall
 *   DIR/results.csv, results.arrow, steps.csv   every finished row of the folder, assembled at the end
 * A cell's rows enter a document's files together, so a re-run computes exactly the missing cells.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { csvTable, resultsCsv, resultsTable } from '../../sim/csv-table.js';
import { readManifestFile, ResultsFolderError, writeFileAtomic, writeResultsTable } from '../../sim/results-folder.js';
import type { PasskeyDocument } from './document.js';
import { EVAL_COLUMNS, PASSKEY_EVAL_KIND, passkeyManifestSchema, STEP_COLUMNS, type PasskeyManifest } from './eval-schema.js';

export function evalManifestFile(dir: string): string {
  return path.join(dir, 'manifest.json');
}

/** Whether DIR holds a passkey eval (its manifest says so). */
export function isPasskeyEvalFolder(dir: string): boolean {
  const file = evalManifestFile(dir);
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { kind?: unknown } | null)?.kind === PASSKEY_EVAL_KIND;
  } catch {
    return false;
  }
}

/** The folder's manifest, or undefined when there is none; any other manifest is an error naming the file. */
export function readEvalManifest(dir: string): PasskeyManifest | undefined {
  return readManifestFile(evalManifestFile(dir), PASSKEY_EVAL_KIND, passkeyManifestSchema, 'a passkey eval manifest');
}

export function writeEvalManifest(dir: string, manifest: PasskeyManifest): void {
  writeFileAtomic(evalManifestFile(dir), JSON.stringify(passkeyManifestSchema.parse(manifest), null, 2));
}

const rowsFile = (dir: string, doc: string) => path.join(dir, 'rows', `${doc}.csv`);
const stepsFile = (dir: string, doc: string) => path.join(dir, 'steps', `${doc}.csv`);
const documentFile = (dir: string, doc: string) => path.join(dir, 'documents', `${doc}.json`);

/** Text columns that can look like numbers (a key '01234', a generated ' 12345.'): read as written. */
const TEXT_COLUMNS = ['key', 'generated', 'expected', 'document', 'cell'];

/** A CSV of this folder as a table: types inferred from every row, the text columns kept as text. */
function evalCsv(text: string): aq.ColumnTable {
  return csvTable(text, { textColumns: TEXT_COLUMNS });
}

function readCsvRows(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return evalCsv(readFileSync(file, 'utf8')).objects() as Record<string, unknown>[];
}

/** The finished rows of a document (results rows and step rows). */
export function readDocumentRows(dir: string, doc: string): { rows: Record<string, unknown>[]; steps: Record<string, unknown>[] } {
  return { rows: readCsvRows(rowsFile(dir, doc)), steps: readCsvRows(stepsFile(dir, doc)) };
}

/** Replaces a document's rows: the steps file first, so a rows file never names a cell without its steps. */
export function writeDocumentRows(dir: string, doc: string, rows: Record<string, unknown>[], steps: Record<string, unknown>[]): void {
  writeFileAtomic(stepsFile(dir, doc), resultsCsv(steps, STEP_COLUMNS));
  writeFileAtomic(rowsFile(dir, doc), resultsCsv(rows, EVAL_COLUMNS));
}

export function writeDocument(dir: string, doc: PasskeyDocument): void {
  writeFileAtomic(documentFile(dir, doc.id), JSON.stringify(doc));
}

/** results.csv, results.arrow and steps.csv of every finished row. */
export function writeEvalResults(dir: string, rows: Record<string, unknown>[], steps: Record<string, unknown>[]): aq.ColumnTable {
  const table = resultsTable(rows, EVAL_COLUMNS);
  writeResultsTable(dir, table);
  writeFileAtomic(path.join(dir, 'steps.csv'), resultsCsv(steps, STEP_COLUMNS));
  return table;
}

export interface PasskeyEvalFolder {
  dir: string;
  manifest: PasskeyManifest;
  /** one row per document x cell */
  table: aq.ColumnTable;
  /** per answer step and sparse layer (absent when steps.csv is missing) */
  steps?: aq.ColumnTable;
}

/** Reads a finished eval folder (an unfinished one is an error saying how far it got, unless allowUnfinished). */
export function readPasskeyEvalFolder(dir: string, opts: { allowUnfinished?: boolean } = {}): PasskeyEvalFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ResultsFolderError(`${dir}: no such folder (expected a passkey eval folder: clusterkv eval passkey ... --out DIR)`);
  const manifest = readEvalManifest(dir);
  if (!manifest) throw new ResultsFolderError(`${evalManifestFile(dir)} not found: ${dir} is not a passkey eval folder`);
  if (manifest.status !== 'complete' && !opts.allowUnfinished) {
    const { done, total } = manifest.progress;
    throw new ResultsFolderError(`${dir}: passkey eval not finished (${manifest.status}: ${done} of ${total} document-cells done${manifest.error ? `; ${manifest.error}` : ''}); re-run the same eval command to finish it`);
  }
  const arrow = path.join(dir, 'results.arrow');
  const csv = path.join(dir, 'results.csv');
  let table: aq.ColumnTable;
  if (existsSync(arrow)) table = aq.fromArrow(readFileSync(arrow));
  else if (existsSync(csv)) table = evalCsv(readFileSync(csv, 'utf8'));
  else throw new ResultsFolderError(`${csv} not found: the eval in ${dir} has not assembled its results (re-run it)`);
  const stepsCsv = path.join(dir, 'steps.csv');
  const steps = existsSync(stepsCsv) ? evalCsv(readFileSync(stepsCsv, 'utf8')) : undefined;
  return { dir, manifest, table, steps };
}
