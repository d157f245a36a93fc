/**
 * How far fp16 storage of K and V may move decode attention, as a bound computed from the data (parity's
 * fp16 tolerance, docs: bench/README.md "fp16 K/V").
 *
 * The kernels compute exactly what the fp32 op chain computes, in f32, on the rounded K' = K + dK and
 * V' = V + dV. For query head h the scores move by e_j = q . dk_j / sqrt(d); with E = max_j |e_j| every
 * softmax weight moves by a factor within [e^-2E, e^2E] (numerator within e^+-E, denominator too), so
 *   sum_j |w'_j - w_j| <= e^2E - 1,   and   |o' - o| <= sum_j |w'_j - w_j| |v'_j| + sum_j w_j |dv_j|
 *                                              <= (e^2E - 1) max |v'| + max |dV|.
 * E and dV are taken from the actual rounding (not the worst case 2^-11 |k| per element, which would
 * assume every error aligned with q), so the bound is tight enough to catch a kernel that misreads a row
 * while holding for any correct one. f32 arithmetic adds its own ~1e-6 (parity adds its f32 tolerance).
 */
import * as tf from '@tensorflow/tfjs-core';
import { queryGroupSize } from './heads.js';

/**
 * The bound on |o_fp16 - o_fp32| for dense or sparse attention of q [H, d] over keys/values [G, T, d]
 * (fp32) and their decoded fp16 copies. The maximum over every row, so it holds for any subset attended.
 */
export async function attentionFp16Bound(q: tf.Tensor2D, keys: tf.Tensor3D, keysHalf: tf.Tensor3D, values: tf.Tensor3D, valuesHalf: tf.Tensor3D): Promise<number> {
  const [H, d] = q.shape;
  const [G] = keys.shape;
  const R = queryGroupSize(H, G);
  const parts = tf.tidy(() => {
    const dk = tf.sub(keysHalf, keys); // [G, T, d]
    const e = tf.matMul(tf.reshape(q, [G, R, d]), dk, false, true); // [G, R, T]
    const E = tf.div(tf.max(tf.abs(e), 2), Math.sqrt(d)); // [G, R]
    const weights = tf.sub(tf.exp(tf.mul(E, 2)), 1);
    return tf.stack([tf.max(weights), tf.max(tf.abs(valuesHalf)), tf.max(tf.abs(tf.sub(valuesHalf, values)))]);
  });
  const [w, vmax, dv] = Array.from(await parts.data());
  parts.dispose();
  return w * vmax + dv;
}

/** The bound on |c_fp16 - c_fp32| for K-means centroids with the same labels: a mean of rounding errors. */
export async function meanFp16Bound(x: tf.Tensor, xHalf: tf.Tensor): Promise<number> {
  const m = tf.tidy(() => tf.max(tf.abs(tf.sub(xHalf, x))));
  const [v] = Array.from(await m.data());
  m.dispose();
  return v;
}
