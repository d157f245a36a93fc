/**
 * Replay of a trace through methods: the layer driver feeds every method's selector the prompt, then each
 * decode step's new keys and query; each selection of a reported step is scored (metrics.ts) against the
 * step's full attention, computed once per (layer, step) and shared by all methods.
 */
import type { TraceReader, TraceLayer } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { driveLayer } from './layer-driver.js';
import { disposeReference, referenceAttention, selectionMetrics, type StepReference } from './metrics.js';
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

/** Replays one layer's tensors through every method; returns, per method, rows for the reported steps and heads. */
export async function replayLayer(
  manifest: TraceManifest,
  layer: number,
  data: TraceLayer,
  methods: Method[],
  opts: { steps: number[]; heads: number[]; onStep?: (layer: number, step: number) => void },
): Promise<ResultRow[][]> {
  const reported = new Set(opts.steps);
  const lastStep = opts.steps.length ? Math.max(...opts.steps) : -1;
  const rows: ResultRow[][] = methods.map(() => []);
  // the step's full attention, while a reported step is in flight
  const current: { ref: StepReference | null } = { ref: null };
  const release = () => {
    if (current.ref) disposeReference(current.ref);
    current.ref = null;
  };
  await driveLayer(manifest, layer, data, methods, lastStep, {
    stepStart: (s) => {
      if (reported.has(s.step)) current.ref = referenceAttention(s.q, s.visibleK, s.visibleV);
    },
    selection: async (m, s, selection) => {
      if (!current.ref) return;
      const metrics = await selectionMetrics(current.ref, s.visibleK, s.visibleV, selection.tokens, selection.dense === true);
      for (const h of opts.heads) rows[m].push(resultRow(methods[m], selection.stats, { layer, head: h, step: s.step, position: s.position }, metrics[h]));
    },
    stepEnd: (s) => {
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
