/**
 * Exact softmax attention for one decode step, GQA: query head h reads KV head floor(h / (H / G)).
 *   weights = softmax(q . k / sqrt(d)),  output = sum_i weights_i v_i
 * Dense attends every key; sparse attends, per query head, only the given positions.
 * On webgpu denseAttention and sparseAttention run the flash-decoding WGSL kernels (wgsl/attention/decode-attention.ts);
 * setKernelPath('ops') or env CLUSTERKV_KERNELS=ops keeps the op chains below. Where the device has subgroups,
 * the subgroup kernels (wgsl/attention/subgroup-attention.ts) run instead, and K and V may be packed f16
 * (half-tensor.ts: the op chains and the older kernels read their decoded values).
 */
import * as tf from '@tensorflow/tfjs-core';
import { takeRows } from './gather-rows.js';
import { kvHeadOfQueryHead, queryGroupSize } from './heads.js';
import { wgslActive } from './kernel-path.js';
import { floatKv, kvDtype, kvShape, type KvTensor } from './half-tensor.js';
import { attentionFits, denseAttentionWgsl, sparseAttentionWgsl } from './wgsl/attention/decode-attention.js';
import { denseAttentionSubgroup, sparseAttentionSubgroup, subgroupAttentionFits } from './wgsl/attention/subgroup-attention.js';

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

/** Dense attention output [H, d]. q: [H, d]; keys, values: [G, T, d] (float32 or packed f16). */
export function denseAttention(q: tf.Tensor2D, keys: KvTensor, values: KvTensor): tf.Tensor2D {
  const [H, d] = q.shape;
  const G = kvShape(keys)[0];
  if (wgslActive() && subgroupAttentionFits(H, G, d, kvDtype(keys))) return denseAttentionSubgroup(q, keys, values);
  return withFloatKv(keys, values, (k, v) => {
    if (wgslActive() && attentionFits(H, G, d)) return denseAttentionWgsl(q, k, v);
    return tf.tidy(() => attendWeights(attentionWeights(q, k), v));
  });
}

/** f(keys, values) on float32 K and V (packed f16 decoded first, and disposed after). */
export function withFloatKv<R>(keys: KvTensor, values: KvTensor, f: (k: tf.Tensor3D, v: tf.Tensor3D) => R): R {
  const [k, v] = [floatKv(keys), floatKv(values)];
  try {
    return f(k.tensor, v.tensor);
  } finally {
    tf.dispose([k.owned, v.owned].filter((t): t is tf.Tensor => !!t));
  }
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

/** Sparse attention [H, d] over the positions `tokens` [H, n] (distinct, int32). q: [H, d]; keys, values: [G, T, d] (float32 or packed f16). */
export function sparseAttention(q: tf.Tensor2D, keys: KvTensor, values: KvTensor, tokens: tf.Tensor2D): tf.Tensor2D {
  if (tokens.shape[0] !== q.shape[0]) throw new RangeError(`tokens must be [H = ${q.shape[0]}, n], got [${tokens.shape.join(', ')}]`);
  const G = kvShape(keys)[0];
  if (wgslActive() && subgroupAttentionFits(q.shape[0], G, q.shape[1], kvDtype(keys))) return sparseAttentionSubgroup(q, keys, values, tokens);
  return withFloatKv(keys, values, (k, v) => {
    if (wgslActive() && attentionFits(q.shape[0], G, q.shape[1])) return sparseAttentionWgsl(q, k, v, tokens);
    return tf.tidy(() => attendGathered(q, gatherPerHead(k, tokens), gatherPerHead(v, tokens)));
  });
}
