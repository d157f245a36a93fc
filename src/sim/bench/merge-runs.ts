/**
 * The one merge of benchmark runs made in fresh processes (bench/run.ts: after every suite, and `merge`): each
 * file is read and checked against the schema of its kind, the runs of one kind are merged by that kind's rule
 * and the result is checked against the merged schema. Every figure over processes is the median of the
 * per-process values (src/sim/quantile.ts) with each process's value kept, so the spread (min–max) can be
 * shown beside it. Why several processes: on the H200 kernel times drift over a process's life
 * (bench/README.md), so every configuration is timed in fresh processes and their spread reported.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { median } from '../quantile.js';

/** A figure measured once in each of several fresh processes: the median over them, every process's value kept. */
export interface OverProcesses {
  median: number;
  processes: number[];
}

export function overProcesses(values: number[]): OverProcesses {
  return { median: median(values), processes: values };
}

/** The schema of an OverProcesses in a merged file. */
export const overProcessesSchema = z.object({ median: z.number(), processes: z.array(z.number()) });

/** The median of per-process values with their range. */
export interface MedianSpread {
  median: number;
  min: number;
  max: number;
}

export function medianSpread(values: readonly number[]): MedianSpread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** The spread of per-process values as "min–max" at `digits` decimals. */
export function spreadText(values: readonly number[], digits: number): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

/** A process that wrote no usable file: its name (or file) and why. */
export interface RunFailure {
  file: string;
  reason: string;
}

/** How the files of one kind merge. */
export interface RunKind<Run = unknown, Merged = unknown> {
  /** the `kind` field of one process's file */
  kind: string;
  /** what such a file is, for messages */
  title: string;
  runSchema: z.ZodType<Run>;
  /** the `kind` field of the merged file (may be the run kind: then processesIn tells them apart) */
  mergedKind: string;
  mergedSchema: z.ZodType<Merged>;
  /** where merged and run files share a kind: how many processes a file holds (1: a run) */
  processesIn?(value: unknown): number;
  /** whether a merged file merges again exactly (it keeps every process's run, as the e2e reports do) */
  remerges?: boolean;
  /** files: where each run came from (same order); failures: processes that wrote none */
  merge(runs: Run[], files: string[], failures: RunFailure[]): Merged;
  /** what a merge prints: the tables of bench/README.md */
  summary(merged: Merged): string;
}

/** Any kind, for lists of kinds (each kind's merge is called with runs its own schema accepted). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRunKind = RunKind<any, any>;

/** A file the merge cannot take: names the file and what is wrong with it. */
export class RunFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFileError';
  }
}

/** JSON of `file` checked against `schema`; the error names the file and the first field the schema refuses. */
export function readCheckedJson<T>(file: string, schema: z.ZodType<T>): T {
  return checkJson(file, readJson(file), schema);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RunFileError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : `cannot be read (${code ?? (err as Error).message})`}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunFileError(`${file}: not readable JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

function checkJson<T>(file: string, value: unknown, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RunFileError(`${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The kind of `value` among `kinds`, and whether it is a merged file (or why it is none of them). */
function kindOf(file: string, value: unknown, kinds: readonly AnyRunKind[]): { kind: AnyRunKind; merged: boolean } {
  const name = (value as { kind?: unknown } | null)?.kind;
  for (const kind of kinds) {
    if (name === kind.mergedKind && name !== kind.kind) return { kind, merged: true };
    if (name === kind.kind) return { kind, merged: name === kind.mergedKind && (kind.processesIn?.(value) ?? 1) > 1 };
  }
  const known = kinds.map((k) => k.kind).join(', ');
  throw new RunFileError(`${file}: not a benchmark run the merge knows (${typeof name === 'string' ? `kind '${name}'` : 'no kind'}; expected one of ${known})`);
}

/** Reads one file of any of `kinds` (a run or a merged file), checked against its schema. */
export function readRunFile(file: string, kinds: readonly AnyRunKind[]): { kind: AnyRunKind; run: unknown; merged: boolean } {
  const value = readJson(file);
  const { kind, merged } = kindOf(file, value, kinds);
  return { kind, merged, run: checkJson(file, value, merged || kind.kind === kind.mergedKind ? kind.mergedSchema : kind.runSchema) };
}

/**
 * Merges run files of one kind (one process each; merged files too where they merge again exactly):
 * returns the merged value, checked against the merged schema, and its summary. Files of several kinds, a
 * merged file of a kind that does not merge again, or no file at all are errors.
 */
export function mergeRunFiles(files: readonly string[], kinds: readonly AnyRunKind[], failures: RunFailure[] = []): { kind: AnyRunKind; merged: unknown; summary: string } {
  if (files.length === 0) throw new RunFileError('no run files to merge');
  const read = files.map((file) => ({ file, ...readRunFile(file, kinds) }));
  const kind = read[0].kind;
  const other = read.find((r) => r.kind !== kind);
  if (other) throw new RunFileError(`${other.file}: a ${other.kind.title}, not a ${kind.title} like ${read[0].file}: merge one kind at a time`);
  const remerged = read.find((r) => r.merged && !kind.remerges);
  if (remerged) throw new RunFileError(`${remerged.file}: already a merged ${kind.title}; merge the runs it came from`);
  const merged = kind.merge(read.map((r) => r.run), [...files], failures);
  return { kind, merged: checkJson('the merged result', merged, kind.mergedSchema), summary: kind.summary(merged) };
}
