/**
 * Exact softmax attention for one decode step, GQA: query head h reads KV head floor(h / (H / G)).
 *   weights = softmax(q . k / sqrt(d)),  output = sum_i weights_i v_i
 * Dense attends every key; sparse attends, per query head, only the given positions.
 * denseAttention and sparseAttention are declared kernels (kernel-dispatch.ts), in order of preference: on
 * webgpu the subgroup kernels (wgsl/attention/subgroup-attention.ts, f32 or packed f16 K/V) where the device
 * has subgroups and subgroupAttentionFits, then the flash-decoding WGSL kernels (wgsl/attention/decode-attention.ts)
 * where attentionFits, else the op chains below (also with setKernelPath('ops') or env CLUSTERKV_KERNELS=ops).
 * K and V may be packed f16 (half-tensor.ts): the subgroup kernels read the words; the older kernels and the
 * op chains read the decoded float32 values (withFloatKv), so every implementation computes on the same numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { takeRows } from './gather-rows.js';
import { kvHeadOfQueryHead, queryGroupSize } from './heads.js';
import { kvDtype, kvShape, withFloat, type KvDtype, type KvTensor } from './half-tensor.js';
import { declareKernel } from './kernel-dispatch.js';
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

/** f(keys, values) on float32 K and V (packed f16 decoded first, and disposed after). */
function withFloatKv<R>(keys: KvTensor, values: KvTensor, f: (k: tf.Tensor3D, v: tf.Tensor3D) => R): R {
  return withFloat(keys, (k) => withFloat(values, (v) => f(k, v)));
}

/** The WGSL implementations of decode attention (dense and sparse alike). */
export type WgslAttentionImplementation = 'wgsl-subgroup' | 'wgsl';

/**
 * Each WGSL implementation's rule by shape (H query heads, G KV heads, head dimension d, K/V storage) on the
 * active device: the subgroup kernels where the device has subgroups and subgroupAttentionFits, the
 * flash-decoding kernels where attentionFits. The declared kernels' fits and the bound decode step's choice
 * (wgslAttentionFor) both ask these.
 */
const SHAPE_FITS: Record<WgslAttentionImplementation, (H: number, G: number, d: number, kv: KvDtype) => boolean> = {
  'wgsl-subgroup': subgroupAttentionFits,
  wgsl: (H, G, d) => attentionFits(H, G, d),
};

/** The flash-decoding WGSL kernels take the shape when attentionFits(H, G, d). q: [H, d]; keys: [G, T, d]. */
const wgslFits = (q: tf.Tensor2D, keys: KvTensor) => SHAPE_FITS.wgsl(q.shape[0], kvShape(keys)[0], q.shape[1], kvDtype(keys));

/** The subgroup kernels take K and V of one storage where the device has subgroups and subgroupAttentionFits. */
const subgroupFits = (q: tf.Tensor2D, keys: KvTensor, values: KvTensor) => kvDtype(keys) === kvDtype(values) && SHAPE_FITS['wgsl-subgroup'](q.shape[0], kvShape(keys)[0], q.shape[1], kvDtype(keys));

/** q [H, d]; keys, values [G, T, d] (float32 or packed f16) -> [H, d]. */
export const denseAttentionKernel = declareKernel<[q: tf.Tensor2D, keys: KvTensor, values: KvTensor], tf.Tensor2D>('dense-attention', [
  { name: 'wgsl-subgroup', path: 'wgsl', fits: subgroupFits, run: denseAttentionSubgroup },
  { name: 'wgsl', path: 'wgsl', fits: wgslFits, run: (q, keys, values) => withFloatKv(keys, values, (k, v) => denseAttentionWgsl(q, k, v)) },
  { name: 'ops', path: 'ops', run: (q, keys, values) => withFloatKv(keys, values, (k, v) => tf.tidy(() => attendWeights(attentionWeights(q, k), v))) },
]);

/** Dense attention output [H, d]. q: [H, d]; keys, values: [G, T, d] (float32 or packed f16). */
export function denseAttention(q: tf.Tensor2D, keys: KvTensor, values: KvTensor): tf.Tensor2D {
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

/**
 * Attention of q [H, d] over per-head keys and values kSel, vSel: [H, n, d]; returns [H, d]. occupied [H, n]
 * bool, where given: the slots attended (the others get no weight).
 */
export function attendGathered(q: tf.Tensor2D, kSel: tf.Tensor3D, vSel: tf.Tensor3D, occupied?: tf.Tensor2D): tf.Tensor2D {
  const [H, d] = q.shape;
  return tf.tidy(() => {
    // elementwise product + sum: one query row per head, and no transposeB matMul (slow on wasm)
    const scores = tf.sum(tf.mul(tf.expandDims(q, 1), kSel), 2); // [H, n]
    const logits = tf.mul(scores, 1 / Math.sqrt(d));
    const w = tf.softmax(occupied ? tf.where(occupied, logits, tf.fill(logits.shape, -Infinity)) : logits); // [H, n]
    return tf.reshape(tf.matMul(tf.expandDims(w, 1), vSel), [H, d]) as tf.Tensor2D;
  });
}

/** q [H, d]; keys, values [G, T, d] (float32 or packed f16); tokens [H, n] int32 -> [H, d]. */
export const sparseAttentionKernel = declareKernel<[q: tf.Tensor2D, keys: KvTensor, values: KvTensor, tokens: tf.Tensor2D], tf.Tensor2D>('sparse-attention', [
  { name: 'wgsl-subgroup', path: 'wgsl', fits: subgroupFits, run: sparseAttentionSubgroup },
  { name: 'wgsl', path: 'wgsl', fits: wgslFits, run: (q, keys, values, tokens) => withFloatKv(keys, values, (k, v) => sparseAttentionWgsl(q, k, v, tokens)) },
  { name: 'ops', path: 'ops', run: (q, keys, values, tokens) => withFloatKv(keys, values, (k, v) => attendSelected(q, k, v, tokens)) },
]);

/**
 * The op chain of sparse attention: q [H, d] over keys, values [G, T, d] at `tokens` [H, n]. A negative
 * position is an empty slot (as the WGSL kernels read it): gathered at 0, its logit -Infinity, so it has no
 * weight (every head keeps at least one position, the current token).
 */
function attendSelected(q: tf.Tensor2D, k: tf.Tensor3D, v: tf.Tensor3D, tokens: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const occupied = tf.greaterEqual(tokens, tf.scalar(0, 'int32'));
    const at = tf.maximum(tokens, tf.scalar(0, 'int32')) as tf.Tensor2D;
    return attendGathered(q, gatherPerHead(k, at), gatherPerHead(v, at), occupied as tf.Tensor2D);
  });
}

/** Sparse attention [H, d] over the positions `tokens` [H, n] (distinct, int32). q: [H, d]; keys, values: [G, T, d] (float32 or packed f16). */
export function sparseAttention(q: tf.Tensor2D, keys: KvTensor, values: KvTensor, tokens: tf.Tensor2D): tf.Tensor2D {
  if (tokens.shape[0] !== q.shape[0]) throw new RangeError(`tokens must be [H = ${q.shape[0]}, n], got [${tokens.shape.join(', ')}]`);
  return sparseAttentionKernel.run(q, keys, values, tokens);
}

/**
 * The WGSL implementation dispatch picks for decode attention of this shape and K/V storage on the active
 * device, by the declared kernels' order and rules (dense-attention's implementations; sparse-attention
 * declares the same), for callers that bind the kernel's passes to their own buffers once (the WebGPU
 * engine, bound-attention.ts) instead of calling it on tensors. undefined: no WGSL implementation fits.
 */
export function wgslAttentionFor(H: number, G: number, d: number, kv: KvDtype): WgslAttentionImplementation | undefined {
  for (const i of denseAttentionKernel.implementations) {
    if (i.path === 'wgsl' && i.name in SHAPE_FITS && SHAPE_FITS[i.name as WgslAttentionImplementation](H, G, d, kv)) return i.name as WgslAttentionImplementation;
  }
  return undefined;
}
