/**
 * Checks a trace's stored dense outputs (layers.{l}.out) against dense attention recomputed from its
 * q, k, v: a replay is only meaningful if the trace reproduces what the model computed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { denseAttention } from '../gpu/attention.js';
import type { TraceReader } from '../trace/index.js';

export interface StoredOutputCheck {
  layer: number;
  /** max over steps and heads of ||o_recomputed - o_stored|| / ||o_stored|| */
  maxRelError: number;
}

export async function verifyStoredOutputs(reader: TraceReader, layers?: number[]): Promise<StoredOutputCheck[]> {
  const m = reader.manifest;
  if (!reader.hasOut) throw new RangeError(`${reader.path} stores no dense outputs (layers.{l}.out) to verify`);
  const { heads, kvHeads, headDim } = m.model;
  const out: StoredOutputCheck[] = [];
  for (const layer of layers ?? Array.from({ length: m.model.layers }, (_, i) => i)) {
    const data = await reader.readLayer(layer);
    let maxRelError = 0;
    for (let s = 0; s < m.stepPositions.length; s++) {
      const n = m.stepPositions[s] + 1;
      const err = tf.tidy(() => {
        const keys = tf.slice(tf.tensor3d(data.k, [kvHeads, m.contextLength, headDim]), [0, 0, 0], [-1, n, -1]) as tf.Tensor3D;
        const values = tf.slice(tf.tensor3d(data.v, [kvHeads, m.contextLength, headDim]), [0, 0, 0], [-1, n, -1]) as tf.Tensor3D;
        const q = tf.tensor2d(data.q.subarray(s * heads * headDim, (s + 1) * heads * headDim), [heads, headDim]);
        const stored = tf.tensor2d(data.out!.subarray(s * heads * headDim, (s + 1) * heads * headDim), [heads, headDim]);
        const recomputed = denseAttention(q, keys, values);
        return tf.max(tf.div(tf.norm(tf.sub(recomputed, stored), 'euclidean', 1), tf.maximum(tf.norm(stored, 'euclidean', 1), 1e-30)));
      });
      maxRelError = Math.max(maxRelError, (await err.data())[0]);
      err.dispose();
    }
    out.push({ layer, maxRelError });
  }
  return out;
}
