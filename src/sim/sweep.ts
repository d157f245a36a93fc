/**
 * Sweeps: methods x budgets x cluster counts (x any other parameter) over one trace -> one arquero table,
 * written as results.csv and results.arrow with a manifest.json (see resultsFolder.ts for the layout).
 * Resumable: finished (cell, layer) files are skipped on a re-run into the same folder.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as aq from 'arquero';
import { TraceReader } from '../trace/index.js';
import { createMethod, methodParamNames, methodTakesBudget, resolveMethodNames } from './methods/index.js';
import { replayLayer, resolveReplaySelection } from './replay.js';
import {
  hasCellLayer, readCellLayer, readJsonIfExists, rowsToTable, writeCellLayer, writeFileAtomic,
} from './results-folder.js';
import type { Method, ParamValue } from './selector.js';
import { packageVersions } from './versions.js';

export interface SweepSpec {
  /** method names ('all' expands to every registered method) */
  methods: string[];
  /** token budgets B (methods without a budget, like full, run once) */
  budgets: number[];
  /** ClusterKV prompt cluster counts C0 (fixed counts); absent: tokensPerCluster decides */
  clusters?: number[];
  /** any other parameter -> values to sweep; applied to the methods that take it */
  grid?: Record<string, ParamValue[]>;
  layers?: number[];
  heads?: number[];
  steps?: number[];
  /** seed for every method that takes one (recorded in the manifest) */
  seed?: number;
}

export interface SweepCell {
  id: string;
  method: string;
  params: Record<string, ParamValue>;
}

export interface SweepOptions {
  /** the tfjs backend in use, recorded in the manifest */
  backend: string;
  /** called after each (layer, step) of replay: done and total counts of (cell, layer, step) units */
  onProgress?: (done: number, total: number) => void;
}

export interface SweepResult {
  dir: string;
  table: aq.ColumnTable;
  cells: SweepCell[];
  /** (cell, layer) pairs computed now and skipped because they were already on disk */
  computed: number;
  skipped: number;
  seconds: number;
}

interface SweepManifest {
  kind: 'clusterkv-sweep';
  trace: { path: string; sha256: string; contextLength: number; prefillLength: number; steps: number; model: unknown; source: unknown };
  spec: SweepSpec;
  seed: number;
  backend: string;
  versions: Record<string, string>;
  cells: SweepCell[];
  status: 'running' | 'complete';
  started: string;
  finished?: string;
  seconds?: number;
}

function cartesian(axes: [string, ParamValue[]][]): Record<string, ParamValue>[] {
  let out: Record<string, ParamValue>[] = [{}];
  for (const [name, values] of axes) out = out.flatMap((base) => values.map((v) => ({ ...base, [name]: v })));
  return out;
}

export function cellId(method: string, params: Record<string, ParamValue>): string {
  const canonical = JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
  return `${method}-${createHash('sha256').update(`${method}:${canonical}`).digest('hex').slice(0, 12)}`;
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
function buildMethods(cells: SweepCell[], prefillLength: number): Method[] {
  return cells.map((cell) => {
    const method = createMethod(cell.method, cell.params);
    const clusters = method.params.clusters;
    const sinks = typeof method.params.sinks === 'number' ? method.params.sinks : 0;
    if (typeof clusters === 'number' && clusters > prefillLength - sinks) {
      throw new RangeError(`${cell.method}: clusters ${clusters} is more than the ${prefillLength - sinks} prompt tokens that can be clustered (prefill ${prefillLength}, sinks ${sinks})`);
    }
    return method;
  });
}

export async function runSweep(tracePath: string, spec: SweepSpec, outDir: string, options: SweepOptions): Promise<SweepResult> {
  const started = Date.now();
  const reader = await TraceReader.open(tracePath);
  try {
    const manifest = reader.manifest;
    const chosen = resolveReplaySelection(manifest, spec);
    const cells = expandCells(spec);
    const methods = buildMethods(cells, manifest.prefillLength);
    const sha256 = await reader.sha256();
    const manifestFile = path.join(outDir, 'manifest.json');
    const previous = readJsonIfExists<SweepManifest>(manifestFile);
    if (previous && previous.trace?.sha256 !== sha256) {
      throw new RangeError(`${outDir} holds results of another trace (${previous.trace?.path}, sha256 ${previous.trace?.sha256?.slice(0, 12)}); choose another --out`);
    }
    const sweepManifest: SweepManifest = {
      kind: 'clusterkv-sweep',
      trace: {
        path: path.resolve(tracePath), sha256, contextLength: manifest.contextLength, prefillLength: manifest.prefillLength,
        steps: manifest.stepPositions.length, model: manifest.model, source: manifest.source,
      },
      spec: { ...spec, layers: chosen.layers, heads: chosen.heads, steps: chosen.steps },
      seed: spec.seed ?? 0,
      backend: options.backend,
      versions: packageVersions(),
      cells,
      status: 'running',
      started: new Date(started).toISOString(),
    };
    writeFileAtomic(manifestFile, JSON.stringify(sweepManifest, null, 2));

    const pendingByLayer = chosen.layers.map((layer) => cells.map((c, i) => (hasCellLayer(outDir, c.id, layer) ? -1 : i)).filter((i) => i >= 0));
    const total = pendingByLayer.reduce((n, p) => n + (p.length ? chosen.steps.length : 0), 0);
    let done = 0;
    let computed = 0;
    let skipped = 0;
    for (let li = 0; li < chosen.layers.length; li++) {
      const layer = chosen.layers[li];
      const pending = pendingByLayer[li];
      skipped += cells.length - pending.length;
      if (pending.length === 0) continue;
      const data = await reader.readLayer(layer);
      const perCell = await replayLayer(manifest, layer, data, pending.map((i) => methods[i]), {
        steps: chosen.steps,
        heads: chosen.heads,
        onStep: () => options.onProgress?.(++done, total),
      });
      pending.forEach((cellIndex, j) => writeCellLayer(outDir, cells[cellIndex].id, layer, perCell[j]));
      computed += pending.length;
    }

    const allRows: Record<string, unknown>[] = [];
    for (const cell of cells) for (const layer of chosen.layers) allRows.push(...readCellLayer(outDir, cell.id, layer));
    const table = rowsToTable(allRows);
    writeFileAtomic(path.join(outDir, 'results.csv'), aq.toCSV(table));
    writeFileAtomic(path.join(outDir, 'results.arrow'), aq.toArrowIPC(table));
    const seconds = (Date.now() - started) / 1000;
    writeFileAtomic(manifestFile, JSON.stringify({ ...sweepManifest, status: 'complete', finished: new Date().toISOString(), seconds }, null, 2));
    return { dir: outDir, table, cells, computed, skipped, seconds };
  } finally {
    await reader.close();
  }
}

/** Mean metrics per method, cluster count and budget: the summary a person reads first. */
export function summarize(table: aq.ColumnTable): aq.ColumnTable {
  return table
    .groupby('method', 'clusters', 'budget')
    .rollup({
      massRecall: aq.op.mean('massRecall'),
      topkRecall: aq.op.mean('topkRecall'),
      outputRelError: aq.op.mean('outputRelError'),
      density: aq.op.mean('density'),
      rows: aq.op.count(),
    })
    .orderby('method', 'clusters', 'budget');
}

