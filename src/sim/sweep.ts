/**
 * Sweeps: methods x budgets x cluster counts (x any other parameter) over one or more traces -> one arquero
 * table per trace, written as results.csv and results.arrow with a manifest.json (results-schema.ts,
 * results-folder.ts).
 *
 * Work is done in units of (family, layer): a family is the cells of one method that differ only in budget,
 * so they share the layer's K-means (LayerMemo); each unit's (cell, layer) files are written as soon as the
 * unit finishes. A re-run into the same folder skips finished files; the folder keeps every cell any run
 * asked for, and results.csv holds every finished one. The trace and the reported heads and steps are the
 * folder's identity: a run with another trace or selection is refused.
 *
 * Units are computed by sweep-unit.ts wherever they run: in this process (jobs 1), on local worker processes
 * (jobs > 1, sweep-local-pool.ts) or by `clusterkv worker`s through a BullMQ queue (sweep-queue.ts); this
 * module writes every file, so each way gives the same folder byte for byte.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as aq from 'arquero';
import { TraceReader } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { VERSION } from '../version.js';
import { methodParamNames, methodTakesBudget, resolveMethodNames } from './methods/index.js';
import { checkRedis, parseRedisUrl } from './queue-target.js';
import { resolveReplaySelection } from './replay.js';
import { resultsTable } from './csv-table.js';
import { hasCellLayer, readCellLayer, readSweepManifest, writeCellLayerCsv, writeResultsTable, writeSweepManifest } from './results-folder.js';
import { SUMMARY_METRICS } from './metrics.js';
import { checkSparseLayers } from './sparse-layers.js';
import { RESULT_COLUMNS, type SweepCell, type SweepExecution, type SweepManifest, type SweepSpec, type SweepUnit, type UnitFailure, type UnitResult } from './results-schema.js';
import type { Method, ParamValue } from './selector.js';
import { LocalPool } from './sweep-local-pool.js';
import { buildMethods, computeUnit, UnitContext } from './sweep-unit.js';
import { packageVersions } from './versions.js';

export type { SweepCell, SweepSpec, SweepUnit, UnitFailure } from './results-schema.js';
export { buildMethods } from './sweep-unit.js';

/** Where a queued sweep's units go: the Redis URL, the sweep's name (its jobs' namespace) and the retries. */
export interface SweepQueueOptions {
  /** redis://HOST:PORT/DB */
  url: string;
  /** the sweep's name: every job id starts with it */
  name: string;
  /** Redis key prefix (default clusterkv) */
  prefix?: string;
  /** attempts per unit before it is reported as failed (default 3) */
  attempts?: number;
}

export interface SweepOptions {
  /** the tfjs backend in use, recorded in the manifest (local worker processes load it too) */
  backend: string;
  /** called after each replayed (layer, step): done and total counts of (cell, layer, step) units */
  onProgress?: (done: number, total: number) => void;
  /** aborting stops the sweep after the current step; the manifest records 'interrupted' */
  signal?: AbortSignal;
  /** local worker processes (default 1: this process computes) */
  jobs?: number;
  /** compute the units on `clusterkv worker`s through a BullMQ queue instead */
  queue?: SweepQueueOptions;
  /** a line for the person waiting (e.g. no queue worker connected yet) */
  notice?: (line: string) => void;
}

export interface SweepResult {
  dir: string;
  /** every finished row of the folder (this run's cells and earlier runs') */
  table: aq.ColumnTable;
  /** this run's cells */
  cells: SweepCell[];
  /** every cell of the folder */
  folderCells: SweepCell[];
  /** (cell, layer) pairs computed now and skipped because they were already on disk */
  computed: number;
  skipped: number;
  seconds: number;
  /** units that failed for good (their cells stay unfinished; the sweep throws SweepFailed) */
  failures: UnitFailure[];
  /** the backend(s) that computed this run's cells (as recorded in the manifest) */
  backend: string;
}

/** A sweep that stopped on request (SIGINT); the folder's manifest says 'interrupted'. */
export class SweepInterrupted extends Error {
  constructor(readonly done: number, readonly total: number, queued = false) {
    super(`sweep interrupted: ${done} of ${total} cell-layers done; re-run the same command to finish${queued ? ' (queued units stay queued; workers go on computing them and the re-run collects their rows)' : ''}`);
    this.name = 'SweepInterrupted';
  }
}

/** A sweep some of whose units failed for good: every other cell is written, results.csv holds them. */
export class SweepFailed extends Error {
  constructor(readonly results: SweepResult[]) {
    super(results.filter((r) => r.failures.length > 0).map((r) => `${r.dir}: ${describeFailures(r.failures)}`).join('\n'));
    this.name = 'SweepFailed';
  }
}

function cartesian(axes: [string, ParamValue[]][]): Record<string, ParamValue>[] {
  let out: Record<string, ParamValue>[] = [{}];
  for (const [name, values] of axes) out = out.flatMap((base) => values.map((v) => ({ ...base, [name]: v })));
  return out;
}

function canonical(params: Record<string, ParamValue>): string {
  return JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
}

export function cellId(method: string, params: Record<string, ParamValue>): string {
  return `${method}-${createHash('sha256').update(`${method}:${canonical(params)}`).digest('hex').slice(0, 12)}`;
}

/** Expands a spec into cells; each method gets only the axes it takes. */
export function expandCells(spec: SweepSpec): SweepCell[] {
  if (spec.budgets.length === 0) throw new RangeError('the sweep needs at least one budget');
  const cells: SweepCell[] = [];
  for (const method of resolveMethodNames(spec.methods)) {
    const takes = new Set(methodParamNames(method));
    const axes: [string, ParamValue[]][] = [];
    if (methodTakesBudget(method)) axes.push(['budget', spec.budgets]);
    if (spec.clusters && takes.has('clusters')) axes.push(['clusters', spec.clusters]);
    for (const [name, values] of Object.entries(spec.grid ?? {})) if (takes.has(name)) axes.push([name, values]);
    const seeded = takes.has('seed') && spec.seed !== undefined && !spec.grid?.seed;
    for (const params of cartesian(axes)) {
      const full = seeded ? { ...params, seed: spec.seed! } : params;
      cells.push({ id: cellId(method, full), method, params: full });
    }
  }
  for (const [name] of Object.entries(spec.grid ?? {})) {
    if (!cells.some((c) => name in c.params)) throw new RangeError(`no selected method takes parameter '${name}'`);
  }
  return cells;
}

/** Cells that differ only in budget: one replay per family and layer shares the K-means. */
function families(cellIndices: number[], cells: SweepCell[]): number[][] {
  const byKey = new Map<string, number[]>();
  for (const i of cellIndices) {
    const { budget: _budget, ...rest } = cells[i].params;
    const key = `${cells[i].method}:${canonical(rest)}`;
    byKey.set(key, [...(byKey.get(key) ?? []), i]);
  }
  return [...byKey.values()];
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function describeSelection(s: { heads: number[]; steps: number[] }, m: TraceManifest): string {
  const all = (list: number[], n: number) => (list.length === n ? `all ${n}` : list.join(','));
  return `heads ${all(s.heads, m.model.heads)}, steps ${all(s.steps, m.stepPositions.length)}`;
}

/** One results folder of a run: a trace, its cells and layers, and the units still to compute. */
interface FolderPlan {
  tracePath: string;
  dir: string;
  sha256: string;
  trace: TraceManifest;
  chosen: { layers: number[]; heads: number[]; steps: number[] };
  cells: SweepCell[];
  folderCells: SweepCell[];
  layers: number[];
  manifest: SweepManifest;
  units: SweepUnit[];
  skipped: number;
  /** (cell, layer) files of the folder finished, and asked for */
  done: number;
  total: number;
  computed: number;
  failures: UnitFailure[];
  /** the backend the folder's manifest named before this run */
  previousBackend?: string;
}

/** Checks a trace against the spec and its folder (nothing is written): the folder's plan. */
async function planFolder(tracePath: string, spec: SweepSpec, dir: string, options: SweepOptions, started: number): Promise<FolderPlan> {
  const reader = await TraceReader.open(tracePath);
  try {
    const trace = reader.manifest;
    const chosen = resolveReplaySelection(trace, spec);
    const cells = expandCells(spec);
    const methods = buildMethods(cells, trace);
    checkSparseLayers(methods, chosen.layers);
    const sha256 = await reader.sha256();
    const previous = readSweepManifest(dir);
    const selection = { heads: chosen.heads, steps: chosen.steps };
    if (previous && previous.trace.sha256 !== sha256) {
      throw new RangeError(`${dir} holds results of another trace (${previous.trace.path}, sha256 ${previous.trace.sha256.slice(0, 12)}); choose another --out`);
    }
    if (previous && !(sameList(previous.selection.heads, selection.heads) && sameList(previous.selection.steps, selection.steps))) {
      throw new RangeError(`${dir} holds rows of ${describeSelection(previous.selection, trace)}; this run reports ${describeSelection(selection, trace)}: choose another --out (rows of different heads or steps would mix in one table)`);
    }
    // the folder keeps every cell and layer any run asked for
    const folderCells = [...(previous?.cells ?? [])];
    const known = new Set(folderCells.map((c) => c.id));
    for (const cell of cells) if (!known.has(cell.id)) folderCells.push(cell);
    const layers = [...new Set([...(previous?.layers ?? []), ...chosen.layers])].sort((a, b) => a - b);
    let done = 0;
    for (const c of folderCells) for (const l of layers) if (hasCellLayer(dir, c.id, l)) done++;
    const absolute = path.resolve(tracePath);
    // units of work: (family of pending cells, layer), layer by layer; in a layer the clustering families
    // first, most clusters first (they take longest: a pool's last units should be short ones)
    const units: SweepUnit[] = [];
    let skipped = 0;
    for (const layer of chosen.layers) {
      const pending = cells.map((c, i) => (hasCellLayer(dir, c.id, layer) ? -1 : i)).filter((i) => i >= 0);
      skipped += cells.length - pending.length;
      const fams = families(pending, cells).sort((a, b) => familyWeight(cells[b[0]]) - familyWeight(cells[a[0]]));
      for (const family of fams) {
        units.push({ trace: { path: absolute, sha256 }, layer, cells: family.map((i) => cells[i]), heads: chosen.heads, steps: chosen.steps, version: VERSION });
      }
    }
    const manifest: SweepManifest = {
      kind: 'clusterkv-sweep',
      trace: {
        path: absolute, sha256, contextLength: trace.contextLength, prefillLength: trace.prefillLength,
        steps: trace.stepPositions.length, model: { ...trace.model }, source: { ...trace.source },
      },
      spec: { ...spec, layers: chosen.layers, heads: chosen.heads, steps: chosen.steps },
      selection,
      seed: spec.seed ?? 0,
      backend: options.backend,
      versions: packageVersions(),
      cells: folderCells,
      layers,
      status: 'running',
      progress: { done, total: folderCells.length * layers.length },
      started: new Date(started).toISOString(),
    };
    return { tracePath, dir, sha256, trace, chosen, cells, folderCells, layers, manifest, units, skipped, done, total: folderCells.length * layers.length, computed: 0, failures: [], previousBackend: previous?.backend };
  } finally {
    await reader.close();
  }
}

/** Clustering families first, more clusters first (a rough order of their cost). */
function familyWeight(cell: SweepCell): number {
  const clusters = cell.params.clusters;
  return methodParamNames(cell.method).includes('clusters') ? 1e6 + (typeof clusters === 'number' ? clusters : 0) : 0;
}

/** Each trace's folder: DIR itself for one trace, DIR/<trace file name> for several. */
export function sweepFolders(traces: readonly string[], outDir: string): string[] {
  if (traces.length === 1) return [outDir];
  const names = traces.map((t) => path.basename(t).replace(/\.safetensors$/, ''));
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new RangeError(`two traces are named ${twice}: each trace's results go to ${outDir}/<trace name>, so trace file names must differ`);
  return names.map((n) => path.join(outDir, n));
}

/**
 * Sweeps one or more traces: each trace's folder as sweepFolders says, each written as a local in-process
 * sweep writes it (the same files, byte for byte) however the units are computed (options.jobs, options.queue).
 */
export async function runSweeps(traces: readonly string[], spec: SweepSpec, outDir: string, options: SweepOptions): Promise<SweepResult[]> {
  const started = Date.now();
  if (traces.length === 0) throw new RangeError('the sweep needs at least one trace');
  const dirs = sweepFolders(traces, outDir);
  // every trace and folder is checked before anything is written
  const plans: FolderPlan[] = [];
  for (let i = 0; i < traces.length; i++) plans.push(await planFolder(traces[i], spec, dirs[i], options, started));
  const execution = executionOf(options);
  const work = plans.flatMap((plan) => plan.units.map((unit) => ({ plan, unit })));
  if (options.queue && work.length > 0) {
    // an unreachable Redis is one line before anything is written (a finished sweep needs none)
    await checkRedis(parseRedisUrl(options.queue.url));
  }
  for (const plan of plans) {
    plan.manifest.execution = execution;
    writeSweepManifest(plan.dir, plan.manifest);
  }
  const stepsOf = (unit: SweepUnit) => unit.cells.length * unit.steps.length;
  const total = work.reduce((n, w) => n + stepsOf(w.unit), 0);
  const inFlight = new Map<number, number>();
  let finishedSteps = 0;
  const report = () => {
    let done = finishedSteps;
    for (const n of inFlight.values()) done += n;
    options.onProgress?.(done, total);
  };
  const workers = new Map<string, { name: string; units: number; seconds: number; cpuSeconds: number }>();
  const backends = new Set<string>();
  const onResult = (i: number, result: UnitResult) => {
    const { plan, unit } = work[i];
    for (const cell of result.cells) {
      if (!hasCellLayer(plan.dir, cell.id, unit.layer)) plan.done++; // (another submitter may have written it)
      writeCellLayerCsv(plan.dir, cell.id, unit.layer, cell.csv);
    }
    plan.computed += result.cells.length;
    const w = workers.get(result.worker) ?? { name: result.worker, units: 0, seconds: 0, cpuSeconds: 0 };
    workers.set(result.worker, { name: w.name, units: w.units + 1, seconds: w.seconds + result.seconds, cpuSeconds: w.cpuSeconds + result.cpuSeconds });
    backends.add(result.backend);
    inFlight.delete(i);
    finishedSteps += stepsOf(unit);
    report();
    writeSweepManifest(plan.dir, { ...plan.manifest, progress: { done: plan.done, total: plan.total } });
  };
  const onFailure = (i: number, error: string, attempts?: number) => {
    const { plan, unit } = work[i];
    inFlight.delete(i);
    plan.failures.push({ layer: unit.layer, cells: unit.cells.map((c) => c.id), error, ...(attempts !== undefined ? { attempts } : {}) });
  };
  const onSteps = (i: number, steps: number) => {
    inFlight.set(i, Math.min(steps, work[i].unit.steps.length) * work[i].unit.cells.length);
    report();
  };

  let interrupted = false;
  try {
    if (work.length === 0) {
      // every cell-layer is on disk: nothing to compute
    } else if (options.queue) {
      const { runUnitsOnQueue } = await import('./sweep-queue.js');
      const outcome = await runUnitsOnQueue(work.map((w) => w.unit), { ...options.queue, signal: options.signal, notice: options.notice }, { onSteps, onResult, onFailure });
      interrupted = outcome === 'interrupted';
    } else if ((options.jobs ?? 1) > 1 && work.length > 1) {
      interrupted = await runOnPool(work.map((w) => w.unit), Math.min(options.jobs!, work.length), options, { onSteps, onResult, onFailure });
    } else {
      interrupted = await runInProcess(work.map((w) => w.unit), options, { onSteps, onResult, onFailure });
    }
  } catch (err) {
    for (const plan of plans) writeSweepManifest(plan.dir, { ...plan.manifest, status: 'failed', progress: { done: plan.done, total: plan.total }, error: (err as Error).message });
    throw err;
  }
  if (workers.size > 0 && execution.mode !== 'in-process') {
    execution.workers = [...workers.values()].sort((a, b) => a.name.localeCompare(b.name)).map((w) => ({ ...w, seconds: round3(w.seconds), cpuSeconds: round3(w.cpuSeconds) }));
  }
  // the backends that computed this run's units; a queued run that computed nothing keeps the folder's
  const computedOn = backends.size > 0 ? [...backends].sort().join(',') : undefined;

  const results: SweepResult[] = [];
  for (const plan of plans) {
    const progress = { done: plan.done, total: plan.total };
    const backend = computedOn ?? (options.queue ? (plan.previousBackend ?? options.backend) : options.backend);
    const manifest: SweepManifest = { ...plan.manifest, backend, execution };
    if (interrupted) {
      writeSweepManifest(plan.dir, { ...manifest, status: 'interrupted', progress });
      continue;
    }
    const allRows: Record<string, unknown>[] = [];
    for (const cell of plan.folderCells) for (const layer of plan.layers) if (hasCellLayer(plan.dir, cell.id, layer)) allRows.push(...readCellLayer(plan.dir, cell.id, layer));
    const table = resultsTable(allRows, RESULT_COLUMNS);
    writeResultsTable(plan.dir, table);
    const seconds = (Date.now() - started) / 1000;
    const failed = plan.failures.length > 0;
    writeSweepManifest(plan.dir, {
      ...manifest,
      status: failed ? 'failed' : progress.done === progress.total ? 'complete' : 'interrupted',
      progress,
      ...(failed ? { failures: plan.failures, error: describeFailures(plan.failures) } : {}),
      finished: new Date().toISOString(),
      seconds,
    });
    results.push({ dir: plan.dir, table, cells: plan.cells, folderCells: plan.folderCells, computed: plan.computed, skipped: plan.skipped, seconds, failures: plan.failures, backend });
  }
  if (interrupted) {
    const done = plans.reduce((n, p) => n + p.done, 0);
    throw new SweepInterrupted(done, plans.reduce((n, p) => n + p.total, 0), options.queue !== undefined);
  }
  if (results.some((r) => r.failures.length > 0)) throw new SweepFailed(results);
  return results;
}

/** Sweeps one trace into `outDir` (see runSweeps). */
export async function runSweep(tracePath: string, spec: SweepSpec, outDir: string, options: SweepOptions): Promise<SweepResult> {
  return (await runSweeps([tracePath], spec, outDir, options))[0];
}

function executionOf(options: SweepOptions): SweepExecution {
  if (options.queue) {
    const { url, name, prefix } = options.queue;
    return { mode: 'queue', queue: redactUrl(url), name, ...(prefix ? { prefix } : {}) };
  }
  const jobs = options.jobs ?? 1;
  return jobs > 1 ? { mode: 'local', jobs } : { mode: 'in-process' };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The URL without a password (manifests are shared). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** One line per distinct error: which layers and cells it stopped. */
export function describeFailures(failures: readonly UnitFailure[]): string {
  const byError = new Map<string, UnitFailure[]>();
  for (const f of failures) byError.set(f.error, [...(byError.get(f.error) ?? []), f]);
  return [...byError]
    .map(([error, fs]) => {
      const cells = fs.reduce((n, f) => n + f.cells.length, 0);
      const layers = [...new Set(fs.map((f) => f.layer))].sort((a, b) => a - b).join(', ');
      const attempts = fs[0].attempts !== undefined ? ` after ${fs[0].attempts} attempt(s)` : '';
      return `${cells} cell-layer(s) of layer(s) ${layers} failed${attempts}: ${error}`;
    })
    .join('; ');
}

interface UnitCallbacks {
  onSteps(i: number, steps: number): void;
  onResult(i: number, result: UnitResult): void;
  onFailure(i: number, error: string, attempts?: number): void;
}

/** Units one after another in this process; returns true when interrupted. */
async function runInProcess(units: SweepUnit[], options: SweepOptions, cb: UnitCallbacks): Promise<boolean> {
  const ctx = new UnitContext({ backend: options.backend, verify: false, version: VERSION });
  try {
    for (let i = 0; i < units.length; i++) {
      if (options.signal?.aborted) return true;
      let steps = 0;
      try {
        const result = await computeUnit(units[i], ctx, () => {
          cb.onSteps(i, ++steps);
          if (options.signal?.aborted) throw new SweepInterrupted(0, 0); // stop after this step
        });
        cb.onResult(i, result);
      } catch (err) {
        if (err instanceof SweepInterrupted) return true;
        cb.onFailure(i, (err as Error).message);
      }
    }
    return false;
  } finally {
    await ctx.close();
  }
}

/** Units on `jobs` local worker processes; returns true when interrupted (the processes are stopped at once). */
async function runOnPool(units: SweepUnit[], jobs: number, options: SweepOptions, cb: UnitCallbacks): Promise<boolean> {
  const pool = await LocalPool.start(jobs, { backend: options.backend });
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    pool.kill();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) onAbort();
    await Promise.all(
      units.map(async (unit, i) => {
        let steps = 0;
        try {
          cb.onResult(i, await pool.run(unit, () => cb.onSteps(i, ++steps)));
        } catch (err) {
          if (!interrupted) cb.onFailure(i, (err as Error).message);
        }
      }),
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!interrupted) await pool.close();
  }
  return interrupted;
}

/** Columns that are a cell's identity in a results table (method parameters), as opposed to where and what. */
function parameterColumns(table: aq.ColumnTable): string[] {
  const names = new Set(table.columnNames());
  const params = new Set<string>();
  for (const method of new Set(table.array('method') as string[])) {
    let takes: string[] = [];
    try {
      takes = methodParamNames(method);
    } catch {
      continue; // a method this version does not know: its rows still group by method
    }
    for (const p of takes) if (names.has(p)) params.add(p);
  }
  return [...params].sort();
}

/**
 * Mean metrics per method and parameter combination (every parameter that varies among a method's rows, not
 * only clusters and budget), the summary a person reads first.
 */
export function summarize(table: aq.ColumnTable): aq.ColumnTable {
  // a parameter varies when some method's rows hold more than one value of it
  const varies = (c: string) => (table.groupby('method').rollup({ n: aq.op.distinct(c) }).rollup({ n: aq.op.max('n') }).object() as { n: number }).n > 1;
  const varying = parameterColumns(table).filter((c) => c !== 'budget' && varies(c));
  const keys = ['method', 'clusters', ...varying.filter((c) => c !== 'clusters'), 'budget'];
  const rollup: Record<string, unknown> = {};
  for (const m of SUMMARY_METRICS) rollup[m] = aq.op.mean(m);
  rollup.rows = aq.op.count();
  return table
    .groupby(...keys)
    .rollup(rollup as Parameters<aq.ColumnTable['rollup']>[0])
    .orderby(...keys);
}

/** The summary's columns, for printing. */
export function summaryColumns(summary: aq.ColumnTable): string[] {
  return summary.columnNames().filter((c) => c !== 'rows');
}
