/**
 * Replay of a trace through methods: per layer, every method's selector sees the prompt keys, then each
 * decode step's new keys and query; each selection is scored against the step's full attention, which is
 * computed once per (layer, step) and shared by all methods.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TraceReader, TraceLayer } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { disposeReference, referenceAttention, selectionMetrics, type HeadMetrics } from './metrics.js';
import { LayerMemo } from './layer-memo.js';
import { stepSelector, type LayerInfo, type Method, type ParamValue } from './selector.js';

export interface ReplayOptions {
  /** layers to replay (default all) */
  layers?: number[];
  /** decode step indices to report (default all); earlier steps are still fed to stateful methods */
  steps?: number[];
  /** query heads to report (default all) */
  heads?: number[];
  /** called after each (layer, step) with every method done */
  onStep?: (layer: number, step: number) => void;
}

export type ResultRow = {
  method: string;
  layer: number;
  head: number;
  step: number;
  position: number;
  clusters: number | null;
  clustersTouched: number | null;
} & HeadMetrics & Record<string, ParamValue | null>;

export function layerInfo(manifest: TraceManifest, layer: number): LayerInfo {
  const { heads, kvHeads, headDim } = manifest.model;
  return { layer, heads, kvHeads, headDim };
}

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
  const { heads, kvHeads, headDim } = manifest.model;
  const T = manifest.contextLength;
  const P = manifest.prefillLength;
  const S = manifest.stepPositions.length;
  const keys = tf.tensor3d(data.k, [kvHeads, T, headDim]);
  const values = tf.tensor3d(data.v, [kvHeads, T, headDim]);
  const queries = tf.tensor3d(data.q, [S, heads, headDim]);
  const memo = new LayerMemo();
  const selectors = methods.map((m) => m.forLayer({ ...layerInfo(manifest, layer), memo }));
  const reported = new Set(opts.steps);
  const lastStep = opts.steps.length ? Math.max(...opts.steps) : -1;
  const rows: ResultRow[][] = methods.map(() => []);
  try {
    tf.tidy(() => {
      const kPrompt = tf.slice(keys, [0, 0, 0], [-1, P, -1]);
      const vPrompt = tf.slice(values, [0, 0, 0], [-1, P, -1]);
      for (const sel of selectors) sel.prefill(kPrompt, vPrompt);
    });
    let fed = P; // positions 0..fed-1 are in every selector
    for (let s = 0; s <= lastStep; s++) {
      const position = manifest.stepPositions[s];
      const kNew = tf.slice(keys, [0, fed, 0], [-1, position + 1 - fed, -1]);
      const vNew = tf.slice(values, [0, fed, 0], [-1, position + 1 - fed, -1]);
      const q = tf.tidy(() => tf.reshape(tf.slice(queries, [s, 0, 0], [1, -1, -1]), [heads, headDim]) as tf.Tensor2D);
      fed = position + 1;
      const visibleK = tf.slice(keys, [0, 0, 0], [-1, fed, -1]);
      const visibleV = tf.slice(values, [0, 0, 0], [-1, fed, -1]);
      const ref = reported.has(s) ? referenceAttention(q, visibleK, visibleV) : null;
      try {
        for (let m = 0; m < methods.length; m++) {
          const selection = await stepSelector(selectors[m], q, kNew, vNew);
          try {
            if (!ref) continue;
            const metrics = await selectionMetrics(ref, q, visibleK, visibleV, selection.tokens, selection.dense === true);
            const method = methods[m];
            const stats = selection.stats ?? {};
            for (const h of opts.heads) {
              rows[m].push({
                method: method.name,
                ...method.params,
                budget: Number.isFinite(method.budget) ? method.budget : null,
                budgetMode: Number.isFinite(method.budget) ? method.budgetMode : null,
                clusters: numberOrNull(stats.promptClusters) ?? positiveOrNull(method.params.clusters),
                layer,
                head: h,
                step: s,
                position,
                ...metrics[h],
                clustersTouched: numberOrNull(stats.clustersTouched),
                ...Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'clustersTouched' && k !== 'promptClusters')),
              } as ResultRow);
            }
          } finally {
            selection.tokens.dispose();
          }
        }
      } finally {
        if (ref) disposeReference(ref);
        for (const t of [kNew, vNew, q, visibleK, visibleV]) t.dispose();
      }
      if (reported.has(s)) opts.onStep?.(layer, s);
    }
  } finally {
    for (const sel of selectors) sel.dispose();
    memo.dispose();
    keys.dispose();
    values.dispose();
    queries.dispose();
  }
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

function positiveOrNull(v: unknown): number | null {
  return typeof v === 'number' && v > 0 ? v : null;
}

function numberOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
