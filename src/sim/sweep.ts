/**
 * Sweeps: methods x budgets x cluster counts (x any other parameter) over one trace -> one arquero table,
 * written as results.csv and results.arrow with a manifest.json (results-schema.ts, results-folder.ts).
 *
 * Work is done in units of (family, layer): a family is the cells of one method that differ only in budget,
 * so they share the layer's K-means (LayerMemo); each unit's (cell, layer) files are written as soon as the
 * unit finishes. A re-run into the same folder skips finished files; the folder keeps every cell any run
 * asked for, and results.csv holds every finished one. The trace and the reported heads and steps are the
 * folder's identity: a run with another trace or selection is refused.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as aq from 'arquero';
import { TraceReader } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { createMethod, methodParamNames, methodTakesBudget, resolveMethodNames } from './methods/index.js';
import { replayLayer, resolveReplaySelection } from './replay.js';
import { hasCellLayer, readCellLayer, readSweepManifest, rowsToTable, writeCellLayer, writeSweepManifest, writeSweepResults } from './results-folder.js';
import { SUMMARY_METRICS } from './metrics.js';
import { checkSparseLayers } from './sparse-layers.js';
import type { SweepCell, SweepManifest, SweepSpec } from './results-schema.js';
import type { Method, ParamValue } from './selector.js';
import { packageVersions } from './versions.js';

export type { SweepCell, SweepSpec } from './results-schema.js';

export interface SweepOptions {
  /** the tfjs backend in use, recorded in the manifest */
  backend: string;
  /** called after each replayed (layer, step): done and total counts of (cell, layer, step) units */
  onProgress?: (done: number, total: number) => void;
  /** aborting stops the sweep after the current step; the manifest records 'interrupted' */
  signal?: AbortSignal;
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
}

/** A sweep that stopped on request (SIGINT); the folder's manifest says 'interrupted'. */
export class SweepInterrupted extends Error {
  constructor(readonly done: number, readonly total: number) {
    super(`sweep interrupted: ${done} of ${total} cell-layers done; re-run the same command to finish`);
    this.name = 'SweepInterrupted';
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

/** Builds every cell's method up front, so a bad parameter fails before anything is written. */
export function buildMethods(cells: SweepCell[], trace: TraceManifest): Method[] {
  return cells.map((cell) => {
    const method = createMethod(cell.method, cell.params);
    const clusters = method.params.clusters;
    const sinks = typeof method.params.sinks === 'number' ? method.params.sinks : 0;
    if (typeof clusters === 'number' && clusters > trace.prefillLength - sinks) {
      throw new RangeError(`${cell.method}: clusters ${clusters} is more than the ${trace.prefillLength - sinks} prompt tokens that can be clustered (prefill ${trace.prefillLength}, sinks ${sinks})`);
    }
    return method;
  });
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

export async function runSweep(tracePath: string, spec: SweepSpec, outDir: string, options: SweepOptions): Promise<SweepResult> {
  const started = Date.now();
  const reader = await TraceReader.open(tracePath);
  try {
    const trace = reader.manifest;
    const chosen = resolveReplaySelection(trace, spec);
    const cells = expandCells(spec);
    const methods = buildMethods(cells, trace);
    checkSparseLayers(methods, chosen.layers);
    const sha256 = await reader.sha256();
    const previous = readSweepManifest(outDir);
    const selection = { heads: chosen.heads, steps: chosen.steps };
    if (previous && previous.trace.sha256 !== sha256) {
      throw new RangeError(`${outDir} holds results of another trace (${previous.trace.path}, sha256 ${previous.trace.sha256.slice(0, 12)}); choose another --out`);
    }
    if (previous && !(sameList(previous.selection.heads, selection.heads) && sameList(previous.selection.steps, selection.steps))) {
      throw new RangeError(`${outDir} holds rows of ${describeSelection(previous.selection, trace)}; this run reports ${describeSelection(selection, trace)}: choose another --out (rows of different heads or steps would mix in one table)`);
    }
    // the folder keeps every cell and layer any run asked for
    const folderCells = [...(previous?.cells ?? [])];
    const cellLayers = new Map<string, Set<number>>(folderCells.map((c) => [c.id, new Set(previous?.layers ?? [])]));
    for (const cell of cells) {
      if (!cellLayers.has(cell.id)) {
        folderCells.push(cell);
        cellLayers.set(cell.id, new Set());
      }
      for (const l of chosen.layers) cellLayers.get(cell.id)!.add(l);
    }
    const layers = [...new Set([...(previous?.layers ?? []), ...chosen.layers])].sort((a, b) => a - b);
    const progress = () => {
      let done = 0;
      let total = 0;
      for (const c of folderCells) for (const l of layers) {
        total++;
        if (hasCellLayer(outDir, c.id, l)) done++;
      }
      return { done, total };
    };
    const manifest: SweepManifest = {
      kind: 'clusterkv-sweep',
      trace: {
        path: path.resolve(tracePath), sha256, contextLength: trace.contextLength, prefillLength: trace.prefillLength,
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
      progress: progress(),
      started: new Date(started).toISOString(),
    };
    writeSweepManifest(outDir, manifest);

    // units of work: (family of pending cells, layer)
    const units: { layer: number; cells: number[] }[] = [];
    let skipped = 0;
    for (const layer of chosen.layers) {
      const pending = cells.map((c, i) => (hasCellLayer(outDir, c.id, layer) ? -1 : i)).filter((i) => i >= 0);
      skipped += cells.length - pending.length;
      for (const family of families(pending, cells)) units.push({ layer, cells: family });
    }
    const total = units.reduce((n, u) => n + u.cells.length * chosen.steps.length, 0);
    let done = 0;
    let computed = 0;
    try {
      let loaded: { layer: number; data: Awaited<ReturnType<TraceReader['readLayer']>> } | undefined;
      for (const unit of units) {
        if (options.signal?.aborted) throw new SweepInterrupted(progress().done, progress().total);
        if (loaded?.layer !== unit.layer) loaded = { layer: unit.layer, data: await reader.readLayer(unit.layer) };
        const perCell = await replayLayer(trace, unit.layer, loaded.data, unit.cells.map((i) => methods[i]), {
          steps: chosen.steps,
          heads: chosen.heads,
          onStep: () => {
            done += unit.cells.length;
            options.onProgress?.(done, total);
            if (options.signal?.aborted) throw new SweepInterrupted(progress().done, progress().total);
          },
        });
        unit.cells.forEach((cellIndex, j) => writeCellLayer(outDir, cells[cellIndex].id, unit.layer, perCell[j]));
        computed += unit.cells.length;
        writeSweepManifest(outDir, { ...manifest, progress: progress() });
      }
    } catch (err) {
      const interrupted = err instanceof SweepInterrupted;
      writeSweepManifest(outDir, { ...manifest, status: interrupted ? 'interrupted' : 'failed', progress: progress(), error: interrupted ? undefined : (err as Error).message });
      throw err;
    }

    const allRows: Record<string, unknown>[] = [];
    for (const cell of folderCells) for (const layer of layers) if (hasCellLayer(outDir, cell.id, layer)) allRows.push(...readCellLayer(outDir, cell.id, layer));
    const table = rowsToTable(allRows);
    writeSweepResults(outDir, table);
    const seconds = (Date.now() - started) / 1000;
    const finalProgress = progress();
    writeSweepManifest(outDir, {
      ...manifest,
      status: finalProgress.done === finalProgress.total ? 'complete' : 'interrupted',
      progress: finalProgress,
      finished: new Date().toISOString(),
      seconds,
    });
    return { dir: outDir, table, cells, folderCells, computed, skipped, seconds };
  } finally {
    await reader.close();
  }
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
