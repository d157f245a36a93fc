/**
 * Exact softmax attention for one decode step, GQA: query head h reads KV head floor(h / (H / G)).
 *   weights = softmax(q . k / sqrt(d)),  output = sum_i weights_i v_i
 * Dense attends every key; sparse attends, per query head, only the given positions.
 * denseAttention and sparseAttention are declared kernels (kernel-dispatch.ts): on webgpu the flash-decoding
 * WGSL kernels (wgsl/attention/decode-attention.ts) where attentionFits, else the op chains below (also with
 * setKernelPath('ops') or env CLUSTERKV_KERNELS=ops).
 */
import * as tf from '@tensorflow/tfjs-core';
import { takeRows } from './gather-rows.js';
import { kvHeadOfQueryHead, queryGroupSize } from './heads.js';
import { declareKernel } from './kernel-dispatch.js';
import { attentionFits, denseAttentionWgsl, sparseAttentionWgsl } from './wgsl/attention/decode-attention.js';

/** Attention weights over every key: [H, T]. q: [H, d]; keys: [G, T, d]. */
export function attentionWeights(q: tf.Tensor2D, keys: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = keys.shape;
  const group = queryGroupSize(H, G);
  return tf.tidy(() => {
    const qg = tf.reshape(q, [G, group, d]);
    const scores = tf.matMul(qg, keys, false, true); // [G, group, T]
    return tf.reshape(tf.softmax(tf.mul(scores, 1 / Math.sqrt(d))), [H, T]) as tf.Tensor2D;
  });
}

/** The output [H, d] of attention weights [H, T] over values [G, T, d] (a KV head's query heads share its values). */
export function attendWeights(weights: tf.Tensor2D, values: tf.Tensor3D): tf.Tensor2D {
  const [H, T] = weights.shape;
  const [G, , d] = values.shape;
  const group = queryGroupSize(H, G);
  return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(weights, [G, group, T]), values), [H, d]) as tf.Tensor2D);
}

/** The WGSL kernels take the shape when attentionFits(H, G, d). q: [H, d]; keys: [G, T, d]. */
const wgslFits = (q: tf.Tensor2D, keys: tf.Tensor3D) => attentionFits(q.shape[0], keys.shape[0], q.shape[1]);

/** q [H, d]; keys, values [G, T, d] -> [H, d]. */
export const denseAttentionKernel = declareKernel<[q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D], tf.Tensor2D>('dense-attention', [
  { name: 'wgsl', path: 'wgsl', fits: wgslFits, run: denseAttentionWgsl },
  { name: 'ops', path: 'ops', run: (q, keys, values) => tf.tidy(() => attendWeights(attentionWeights(q, keys), values)) },
]);

/** Dense attention output [H, d]. q: [H, d]; keys, values: [G, T, d]. */
export function denseAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
  return denseAttentionKernel.run(q, keys, values);
}

/** Rows of x [G, T, d] per query head at `tokens` [H, n] (int32 positions): [H, n, d]. */
export function gatherPerHead(x: tf.Tensor3D, tokens: tf.Tensor2D): tf.Tensor3D {
  const [G, T, d] = x.shape;
  const [H, n] = tokens.shape;
  return tf.tidy(() => {
    const kvOf = tf.tensor2d(kvHeadOfQueryHead(H, G), [H, 1], 'int32');
    const flat = tf.add(tf.cast(tokens, 'int32'), tf.mul(kvOf, tf.scalar(T, 'int32'))); // [H, n]
    return tf.reshape(takeRows(tf.reshape(x, [G * T, d]), tf.reshape(flat, [H * n]) as tf.Tensor1D), [H, n, d]) as tf.Tensor3D;
  });
}

/** Attention of q [H, d] over per-head keys and values kSel, vSel: [H, n, d]; returns [H, d]. */
export function attendGathered(q: tf.Tensor2D, kSel: tf.Tensor3D, vSel: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  return tf.tidy(() => {
    // elementwise product + sum: one query row per head, and no transposeB matMul (slow on wasm)
    const scores = tf.sum(tf.mul(tf.expandDims(q, 1), kSel), 2); // [H, n]
    const w = tf.softmax(tf.mul(scores, 1 / Math.sqrt(d))); // [H, n]
    return tf.reshape(tf.matMul(tf.expandDims(w, 1), vSel), [H, d]) as tf.Tensor2D;
  });
}

/** q [H, d]; keys, values [G, T, d]; tokens [H, n] int32 -> [H, d]. */
export const sparseAttentionKernel = declareKernel<[q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D], tf.Tensor2D>('sparse-attention', [
  { name: 'wgsl', path: 'wgsl', fits: wgslFits, run: sparseAttentionWgsl },
  { name: 'ops', path: 'ops', run: (q, keys, values, tokens) => tf.tidy(() => attendGathered(q, gatherPerHead(keys, tokens), gatherPerHead(values, tokens))) },
]);

/** Sparse attention [H, d] over the positions `tokens` [H, n] (distinct, int32). q: [H, d]; keys, values: [G, T, d]. */
export function sparseAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D): tf.Tensor2D {
  if (tokens.shape[0] !== q.shape[0]) throw new RangeError(`tokens must be [H = ${q.shape[0]}, n], got [${tokens.shape.join(', ')}]`);
  return sparseAttentionKernel.run(q, keys, values, tokens);
}
