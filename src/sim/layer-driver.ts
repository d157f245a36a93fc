/**
 * The one layer driver: it owns a layer's tensors for the time of a replay and feeds every consumer (replay's
 * metrics, cachesim's unit sequences, the clustering diagnostics) the same way:
 *   begin       the layer's keys, values [G, T, d] and queries [S, H, d] on the backend
 *   prefill     every method's selector sees the prompt keys and values 0..P-1 (a trace has no prompt queries)
 *   per step s  q [H, d], the new keys and values since the last step [G, n, d] and the visible keys and
 *               values 0..p_s [G, p_s + 1, d]; stepStart, then each method's selection (awaited: selectors
 *               read back asynchronously, as webgpu needs), then stepEnd
 * Every tensor the driver makes it also disposes, a selection's tokens included, so consumers only borrow.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TraceLayer } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { LayerMemo } from './layer-memo.js';
import type { LayerInfo, LayerSelector, Method, Selection } from './selector.js';

/** The tensors of one layer, borrowed by consumers for the whole drive. */
export interface LayerTensors {
  layer: number;
  /** [G, T, d] */
  keys: tf.Tensor3D;
  /** [G, T, d] */
  values: tf.Tensor3D;
  /** [S, H, d] */
  queries: tf.Tensor3D;
}

/** One decode step as consumers see it (tensors borrowed until the step ends). */
export interface DriverStep {
  /** decode step index s */
  step: number;
  /** the query's position p_s (it attends keys 0..p_s) */
  position: number;
  /** [H, d] */
  q: tf.Tensor2D;
  /** [G, n, d] the keys and values appended since the previous step, ending at p_s */
  kNew: tf.Tensor3D;
  vNew: tf.Tensor3D;
  /** [G, p_s + 1, d] every key and value the query can see */
  visibleK: tf.Tensor3D;
  visibleV: tf.Tensor3D;
}

export interface LayerConsumer {
  begin?(tensors: LayerTensors): void | Promise<void>;
  stepStart?(step: DriverStep): void | Promise<void>;
  /** method m's selection at a step; its tensors are disposed by the driver after this returns */
  selection?(m: number, step: DriverStep, selection: Selection): void | Promise<void>;
  stepEnd?(step: DriverStep): void | Promise<void>;
}

export function layerInfo(manifest: TraceManifest, layer: number): LayerInfo {
  const { heads, kvHeads, headDim } = manifest.model;
  return { layer, heads, kvHeads, headDim };
}

/**
 * Drives one layer's data through `methods` for decode steps 0..lastStep (stateful methods need every step
 * in order, reported or not). Selectors of one drive share a LayerMemo (work that depends only on the keys,
 * like ClusterKV's K-means, is done once for every budget).
 */
export async function driveLayer(manifest: TraceManifest, layer: number, data: TraceLayer, methods: readonly Method[], lastStep: number, consumer: LayerConsumer): Promise<void> {
  const { heads, kvHeads, headDim } = manifest.model;
  const T = manifest.contextLength;
  const P = manifest.prefillLength;
  const S = manifest.stepPositions.length;
  if (lastStep >= S) throw new RangeError(`step ${lastStep} is out of range: the trace has ${S} (0..${S - 1})`);
  const tensors: LayerTensors = {
    layer,
    keys: tf.tensor3d(data.k, [kvHeads, T, headDim]),
    values: tf.tensor3d(data.v, [kvHeads, T, headDim]),
    queries: tf.tensor3d(data.q, [S, heads, headDim]),
  };
  // Positions start..start+n-1 of the layer's keys or values, [G, n, d]. On the CPU backends they are copied
  // from the host arrays: wasm's slice first copies its whole input out of the heap (readSync), so five slices
  // a step moved the whole layer five times, and copies a rank-3 slice one d-long row at a time.
  const fromHost = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
  const positions = (host: Float32Array, device: tf.Tensor3D, start: number, n: number): tf.Tensor3D => {
    if (!fromHost) return tf.slice(device, [0, start, 0], [-1, n, -1]);
    const out = new Float32Array(kvHeads * n * headDim);
    for (let g = 0; g < kvHeads; g++) out.set(host.subarray((g * T + start) * headDim, (g * T + start + n) * headDim), g * n * headDim);
    return tf.tensor3d(out, [kvHeads, n, headDim]);
  };
  const memo = new LayerMemo();
  const info = { ...layerInfo(manifest, layer), memo };
  const selectors: LayerSelector[] = [];
  try {
    for (const m of methods) selectors.push(m.forLayer(info));
    await consumer.begin?.(tensors);
    tf.tidy(() => {
      const kPrompt = tf.slice(tensors.keys, [0, 0, 0], [-1, P, -1]);
      const vPrompt = tf.slice(tensors.values, [0, 0, 0], [-1, P, -1]);
      // no prompt queries: a trace stores the decode steps' queries only, and those are the ones scored
      for (const sel of selectors) sel.prefill(kPrompt, vPrompt);
    });
    let fed = P; // positions 0..fed-1 are in every selector
    for (let s = 0; s <= lastStep; s++) {
      const position = manifest.stepPositions[s];
      const step: DriverStep = {
        step: s,
        position,
        q: tf.tidy(() => tf.reshape(tf.slice(tensors.queries, [s, 0, 0], [1, -1, -1]), [heads, headDim]) as tf.Tensor2D),
        kNew: positions(data.k, tensors.keys, fed, position + 1 - fed),
        vNew: positions(data.v, tensors.values, fed, position + 1 - fed),
        visibleK: positions(data.k, tensors.keys, 0, position + 1),
        visibleV: positions(data.v, tensors.values, 0, position + 1),
      };
      fed = position + 1;
      try {
        await consumer.stepStart?.(step);
        for (let m = 0; m < selectors.length; m++) {
          const selection = await selectors[m].step(step.q, step.kNew, step.vNew);
          try {
            await consumer.selection?.(m, step, selection);
          } finally {
            selection.tokens.dispose();
          }
        }
        await consumer.stepEnd?.(step);
      } finally {
        tf.dispose([step.q, step.kNew, step.vNew, step.visibleK, step.visibleV]);
      }
    }
  } finally {
    for (const sel of selectors) sel.dispose();
    memo.dispose();
    tf.dispose([tensors.keys, tensors.values, tensors.queries]);
  }
}

