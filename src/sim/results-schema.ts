/**
 * What a sweep writes, declared once: the result row (its columns derive from the metric list) and the
 * manifest (zod, as the trace manifest is). results-folder.ts reads and writes the files with these; the CLI,
 * plot, notebooks and the study read sweeps through it.
 *
 *   results.csv / results.arrow   one row per (cell, layer, query head, decode step): RESULT_COLUMNS, then
 *                                 the method's parameters and its per-step stats, alphabetically
 *   manifest.json                 SweepManifest below
 */
import { z } from 'zod';
import { numberOrNull } from './cell-number.js';
import { METRIC_NAMES, type HeadMetrics } from './metrics.js';
import type { Method, ParamValue } from './selector.js';

/** Leading columns of results.csv, in order; method parameters and method stats follow alphabetically. */
export const RESULT_COLUMNS: readonly string[] = ['method', 'clusters', 'budget', 'budgetMode', 'layer', 'head', 'step', 'position', ...METRIC_NAMES, 'clustersTouched'];

export type ResultRow = {
  method: string;
  layer: number;
  head: number;
  step: number;
  position: number;
  budget: number | null;
  budgetMode: string | null;
  /** the prompt's cluster count C0 where the method clusters (ClusterKV), else null */
  clusters: number | null;
  clustersTouched: number | null;
} & HeadMetrics & Record<string, ParamValue | null>;

/** Where a row sits in the replay. */
export interface RowCoordinates {
  layer: number;
  head: number;
  step: number;
  position: number;
}

/** One result row: the method's parameters, where, the metrics of the head, and the method's per-step stats. */
export function resultRow(method: Method, stats: Record<string, number> | undefined, at: RowCoordinates, metrics: HeadMetrics): ResultRow {
  const s = stats ?? {};
  const budgeted = Number.isFinite(method.budget);
  const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'clustersTouched' && k !== 'promptClusters'));
  return {
    method: method.name,
    ...method.params,
    budget: budgeted ? method.budget : null,
    budgetMode: budgeted ? method.budgetMode : null,
    clusters: numberOrNull(s.promptClusters) ?? positiveOrNull(method.params.clusters),
    ...at,
    ...metrics,
    clustersTouched: numberOrNull(s.clustersTouched),
    ...rest,
  } as ResultRow;
}

function positiveOrNull(v: unknown): number | null {
  return typeof v === 'number' && v > 0 ? v : null;
}

export const SWEEP_KIND = 'clusterkv-sweep';

const paramValue = z.union([z.number(), z.string(), z.boolean()]);
const intList = z.array(z.number().int().nonnegative());

export const sweepCellSchema = z.object({
  id: z.string(),
  method: z.string(),
  params: z.record(z.string(), paramValue),
});
export type SweepCell = z.infer<typeof sweepCellSchema>;

export const sweepSpecSchema = z.object({
  /** method names ('all' expands to every registered method) */
  methods: z.array(z.string()),
  /** token budgets B (methods without a budget, like full, run once) */
  budgets: z.array(z.number()),
  /** ClusterKV prompt cluster counts C0 (fixed counts); absent: tokensPerCluster decides */
  clusters: z.array(z.number()).optional(),
  /** any other parameter -> values to sweep; applied to the methods that take it */
  grid: z.record(z.string(), z.array(paramValue)).optional(),
  layers: intList.optional(),
  heads: intList.optional(),
  steps: intList.optional(),
  /** seed for every method that takes one (recorded in the manifest) */
  seed: z.number().int().nonnegative().optional(),
});
export type SweepSpec = z.infer<typeof sweepSpecSchema>;

export const SWEEP_STATUSES = ['running', 'interrupted', 'failed', 'complete'] as const;

/**
 * One unit of sweep work, as plain data (it travels to local worker processes and, as a BullMQ job's data,
 * through Redis): a family of cells (one method, parameters that differ only in budget) on one layer of one
 * trace, reporting the given query heads and decode steps. src/sim/sweep-unit.ts computes it.
 */
export const sweepUnitSchema = z.object({
  /** an absolute path every worker can read, and the sha256 the file must have there */
  trace: z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  layer: z.number().int().nonnegative(),
  cells: z.array(sweepCellSchema).min(1),
  heads: intList,
  steps: intList,
  /** clusterkv-lab version of the sweep that made the unit (a worker of another version refuses it) */
  version: z.string(),
});
export type SweepUnit = z.infer<typeof sweepUnitSchema>;

/** What computing a unit gives back: each (cell, layer)'s CSV text, written into the folder as is. */
export const unitResultSchema = z.object({
  cells: z.array(z.object({ id: z.string(), csv: z.string() })),
  /** the tfjs backend and the worker (host:pid) that computed it */
  backend: z.string(),
  worker: z.string(),
  /** wall and CPU (user + system) seconds of the computing process for the unit */
  seconds: z.number(),
  cpuSeconds: z.number(),
});
export type UnitResult = z.infer<typeof unitResultSchema>;

/** How a sweep ran: in this process, on local worker processes, or through a BullMQ queue on Redis. */
export const sweepExecutionSchema = z.object({
  mode: z.enum(['in-process', 'local', 'queue']),
  /** local worker processes */
  jobs: z.number().int().positive().optional(),
  /** the queue's Redis URL (password left out), key prefix and the sweep's name */
  queue: z.string().optional(),
  prefix: z.string().optional(),
  name: z.string().optional(),
  /** the processes (host:pid) that computed this run's units, with their units and wall and CPU seconds */
  workers: z.array(z.object({ name: z.string(), units: z.number().int().nonnegative(), seconds: z.number(), cpuSeconds: z.number() })).optional(),
});
export type SweepExecution = z.infer<typeof sweepExecutionSchema>;

/** A unit that failed for good (after its attempts, through a queue): its cells stay unfinished. */
export const unitFailureSchema = z.object({
  layer: z.number().int().nonnegative(),
  cells: z.array(z.string()),
  error: z.string(),
  attempts: z.number().int().nonnegative().optional(),
});
export type UnitFailure = z.infer<typeof unitFailureSchema>;

export const sweepManifestSchema = z.object({
  kind: z.literal(SWEEP_KIND),
  trace: z.object({
    path: z.string(),
    sha256: z.string(),
    contextLength: z.number(),
    prefillLength: z.number(),
    steps: z.number(),
    model: z.record(z.string(), z.unknown()),
    source: z.record(z.string(), z.unknown()),
  }),
  /** the latest run's spec, with its layers, heads and steps resolved */
  spec: sweepSpecSchema,
  /** the query heads and decode steps every row of the folder reports: part of the folder's identity */
  selection: z.object({ heads: intList, steps: intList }),
  seed: z.number(),
  backend: z.string(),
  versions: z.record(z.string(), z.string()),
  /** every cell of the folder (this run's and earlier runs'), in the order they were first asked for */
  cells: z.array(sweepCellSchema),
  /** layers of the folder's rows (every run's) */
  layers: intList,
  status: z.enum(SWEEP_STATUSES),
  /** (cell, layer) units finished and asked for, over every cell and layer of the folder */
  progress: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  error: z.string().optional(),
  /** the units of the latest run that failed (status 'failed') */
  failures: z.array(unitFailureSchema).optional(),
  execution: sweepExecutionSchema.optional(),
  started: z.string(),
  finished: z.string().optional(),
  seconds: z.number().optional(),
});
export type SweepManifest = z.infer<typeof sweepManifestSchema>;
