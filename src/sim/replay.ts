/**
 * Replay of a trace through methods: the layer driver feeds every method's selector the prompt, then each
 * decode step's new keys and query; each selection of a reported step is scored (metrics.ts) against the
 * step's full attention, computed once per (layer, step) and shared by all methods.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TraceReader, TraceLayer } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { driveLayer } from './layer-driver.js';
import { disposeReference, referenceAttention, selectionsMetrics, type StepReference } from './metrics.js';
import type { ResultRow } from './results-schema.js';
import { resultRow } from './results-schema.js';
import type { Method } from './selector.js';

export interface ReplayOptions {
  /** layers to replay (default all) */
  layers?: number[];
  /** decode step indices to report (default all); earlier steps are still fed to stateful methods */
  steps?: number[];
  /** query heads to report (default all) */
  heads?: number[];
  /** called after each reported (layer, step) with every method done */
  onStep?: (layer: number, step: number) => void;
}

export type { ResultRow } from './results-schema.js';

/** Checks a replay's layer/step/head choice against the trace; errors name the option. */
export function resolveReplaySelection(manifest: TraceManifest, opts: ReplayOptions): { layers: number[]; steps: number[]; heads: number[] } {
  const pick = (name: string, given: number[] | undefined, count: number) => {
    const all = Array.from({ length: count }, (_, i) => i);
    if (!given) return all;
    for (const v of given) {
      if (!Number.isInteger(v) || v < 0 || v >= count) throw new RangeError(`${name} ${v} is out of range: the trace has ${count} (0..${count - 1})`);
    }
    return [...new Set(given)].sort((a, b) => a - b);
  };
  return {
    layers: pick('layer', opts.layers, manifest.model.layers),
    steps: pick('step', opts.steps, manifest.stepPositions.length),
    heads: pick('head', opts.heads, manifest.model.heads),
  };
}

/**
 * The full attention of each (layer, step) of one layer, kept across replays of that layer: a sweep replays a
 * layer once per family of cells (src/sim/sweep.ts), and every family scores against the same reference.
 * Holds one layer at a time (switching layers disposes the previous one's); dispose() when done.
 */
export class StepReferenceCache {
  private layerKey: string | undefined;
  private readonly refs = new Map<number, StepReference>();

  /** The reference of `step` in the layer named by layerKey (trace identity and layer), computed on first use. */
  get(layerKey: string, step: number, compute: () => StepReference): StepReference {
    if (layerKey !== this.layerKey) {
      this.dispose();
      this.layerKey = layerKey;
    }
    let ref = this.refs.get(step);
    if (!ref) {
      ref = compute();
      tf.keep(ref.weights);
      tf.keep(ref.output);
      this.refs.set(step, ref);
    }
    return ref;
  }

  dispose(): void {
    for (const ref of this.refs.values()) disposeReference(ref);
    this.refs.clear();
    this.layerKey = undefined;
  }
}

/** Replays one layer's tensors through every method; returns, per method, rows for the reported steps and heads. */
export async function replayLayer(
  manifest: TraceManifest,
  layer: number,
  data: TraceLayer,
  methods: Method[],
  opts: {
    steps: number[];
    heads: number[];
    onStep?: (layer: number, step: number) => void;
    /** shares each step's full attention with other replays of this layer; `layerKey` names the trace and layer */
    references?: { cache: StepReferenceCache; layerKey: string };
  },
): Promise<ResultRow[][]> {
  const reported = new Set(opts.steps);
  const lastStep = opts.steps.length ? Math.max(...opts.steps) : -1;
  const rows: ResultRow[][] = methods.map(() => []);
  // the step's full attention, while a reported step is in flight (owned here unless the cache holds it)
  const current: { ref: StepReference | null } = { ref: null };
  // the step's selections, scored together at the step's end (their tokens cloned: the driver disposes its own)
  let pending: { m: number; tokens: tf.Tensor2D; dense: boolean; stats?: Record<string, number> }[] = [];
  const release = () => {
    if (current.ref && !opts.references) disposeReference(current.ref);
    current.ref = null;
    for (const p of pending) p.tokens.dispose();
    pending = [];
  };
  await driveLayer(manifest, layer, data, methods, lastStep, {
    stepStart: (s) => {
      if (!reported.has(s.step)) return;
      const compute = () => referenceAttention(s.q, s.visibleK, s.visibleV);
      current.ref = opts.references ? opts.references.cache.get(opts.references.layerKey, s.step, compute) : compute();
    },
    selection: (m, _s, selection) => {
      if (current.ref) pending.push({ m, tokens: tf.clone(selection.tokens), dense: selection.dense === true, stats: selection.stats });
    },
    stepEnd: async (s) => {
      if (current.ref && pending.length > 0) {
        const metrics = await selectionsMetrics(current.ref, s.visibleK, s.visibleV, pending);
        pending.forEach(({ m, stats }, i) => {
          for (const h of opts.heads) rows[m].push(resultRow(methods[m], stats, { layer, head: h, step: s.step, position: s.position }, metrics[i][h]));
        });
      }
      release();
      if (reported.has(s.step)) opts.onStep?.(layer, s.step);
    },
  }).finally(release);
  return rows;
}

/** Replays the chosen layers of a trace, reading one layer at a time. */
export async function replayTrace(reader: TraceReader, methods: Method[], opts: ReplayOptions = {}): Promise<ResultRow[]> {
  const chosen = resolveReplaySelection(reader.manifest, opts);
  const rows: ResultRow[] = [];
  for (const layer of chosen.layers) {
    const data = await reader.readLayer(layer);
    const perMethod = await replayLayer(reader.manifest, layer, data, methods, { ...chosen, onStep: opts.onStep });
    for (const methodRows of perMethod) rows.push(...methodRows);
  }
  return rows;
}
