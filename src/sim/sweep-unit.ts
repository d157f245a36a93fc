/**
 * Computing one unit of sweep work (results-schema.ts: SweepUnit, a family of cells on one layer of one trace),
 * the same code wherever a sweep runs: in the sweep's own process, in a local worker process
 * (sweep-local-pool.ts) or in a BullMQ worker (sweep-worker.ts). The result is each (cell, layer)'s CSV text,
 * which the sweep writes into its folder as is, so every way of running gives the same files byte for byte.
 *
 * A UnitContext keeps what consecutive units of one process share: open trace readers, the last layer read,
 * each step's full attention of that layer (StepReferenceCache), and which traces were checked against their
 * sha256.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { TraceReader, type TraceLayer } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { clusterkvParams, promptClustering } from './methods/clusterkv/plan.js';
import { createMethod } from './methods/index.js';
import { replayLayer, StepReferenceCache } from './replay.js';
import { cellLayerCsv } from './results-folder.js';
import type { SweepCell, SweepUnit, UnitResult } from './results-schema.js';
import type { Method } from './selector.js';

/** Builds every cell's method up front, so a bad parameter fails before anything is written. */
export function buildMethods(cells: SweepCell[], trace: TraceManifest): Method[] {
  return cells.map((cell) => {
    const method = createMethod(cell.method, cell.params);
    // ClusterKV's C0 must fit the trace's prompt (its plan throws otherwise)
    if (method.name === 'clusterkv') promptClustering(clusterkvParams(method), trace.prefillLength);
    return method;
  });
}

/** This process as results name it: host:pid. */
export function workerName(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** A unit no worker of this version can compute (made by another clusterkv-lab version): not worth retrying. */
export class UnitRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnitRefused';
  }
}

export class UnitContext {
  private readonly readers = new Map<string, TraceReader>();
  /** path -> the size, mtime and sha256 it had when checked */
  private readonly checked = new Map<string, { size: number; mtimeMs: number; sha256: string }>();
  private loaded: { key: string; data: TraceLayer } | undefined;
  readonly references = new StepReferenceCache();

  /**
   * backend: recorded in results; verify: check each trace's sha256 against the unit's (queue workers, which
   * read a path the submitter named; local workers read the file the sweep itself hashed); version: this
   * process's clusterkv-lab version (a unit made by another version is refused).
   */
  constructor(readonly opts: { backend: string; verify: boolean; version: string }) {}

  /** The open reader of a unit's trace, checked against the unit's sha256 when asked to. */
  async reader(unit: SweepUnit): Promise<TraceReader> {
    const file = unit.trace.path;
    let reader = this.readers.get(file);
    if (!reader) {
      try {
        reader = await TraceReader.open(file);
      } catch (err) {
        // an error, not a refusal: another worker may read the path (its attempts are bounded)
        throw new Error(`worker ${workerName()}: ${(err as Error).message} (every worker must read the trace at the path the sweep was given)`);
      }
      this.readers.set(file, reader);
    }
    if (this.opts.verify) {
      const { size, mtimeMs } = await stat(file);
      let seen = this.checked.get(file);
      if (!seen || seen.size !== size || seen.mtimeMs !== mtimeMs) {
        seen = { size, mtimeMs, sha256: await reader.sha256() };
        this.checked.set(file, seen);
      }
      if (seen.sha256 !== unit.trace.sha256) {
        throw new Error(`worker ${workerName()}: ${file} has sha256 ${seen.sha256.slice(0, 12)}..., the sweep was given a file with ${unit.trace.sha256.slice(0, 12)}...: every worker must read the same trace`);
      }
    }
    return reader;
  }

  /** The unit's layer, read once for consecutive units of the same layer. */
  async layer(unit: SweepUnit, reader: TraceReader): Promise<TraceLayer> {
    const key = `${unit.trace.path}:${unit.trace.sha256}:${unit.layer}`;
    if (this.loaded?.key !== key) {
      this.loaded = undefined; // let the previous layer go before reading the next
      this.loaded = { key, data: await reader.readLayer(unit.layer) };
    }
    return this.loaded.data;
  }

  async close(): Promise<void> {
    this.references.dispose();
    this.loaded = undefined;
    for (const reader of this.readers.values()) await reader.close();
    this.readers.clear();
  }
}

/**
 * Replays the unit's layer through its cells' methods and returns each cell's rows as CSV text.
 * onStep: after each reported decode step (every cell of the unit done with it).
 */
export async function computeUnit(unit: SweepUnit, ctx: UnitContext, onStep?: () => void): Promise<UnitResult> {
  const started = Date.now();
  const cpu = process.cpuUsage();
  if (unit.version !== ctx.opts.version) {
    throw new UnitRefused(`worker ${workerName()} runs clusterkv-lab ${ctx.opts.version}, the sweep was made by ${unit.version}: results could differ; run workers of the sweep's version`);
  }
  const reader = await ctx.reader(unit);
  const manifest = reader.manifest;
  const methods = buildMethods(unit.cells, manifest);
  const data = await ctx.layer(unit, reader);
  const perCell = await replayLayer(manifest, unit.layer, data, methods, {
    steps: unit.steps,
    heads: unit.heads,
    references: { cache: ctx.references, layerKey: `${unit.trace.sha256}:${unit.layer}` },
    onStep: () => onStep?.(),
  });
  return {
    cells: unit.cells.map((cell, i) => ({ id: cell.id, csv: cellLayerCsv(perCell[i]) })),
    backend: ctx.opts.backend,
    worker: workerName(),
    seconds: (Date.now() - started) / 1000,
    cpuSeconds: cpuSecondsSince(cpu),
  };
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1e6;
}
