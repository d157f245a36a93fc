/**
 * Row-wise gather: out[h, j] = x[h, idx[h, j]]. x: [R, C]; idx: [R, n] int32; returns [R, n].
 * Written as a flat gather because tf.gather with batchDims = 1 returns wrong rows on the wasm
 * backend (tfjs 4.22: rows after the first read the wrong batch once C and n grow).
 */
import * as tf from '@tensorflow/tfjs-core';

export function gatherRows<T extends tf.Tensor2D>(x: T, idx: tf.Tensor2D): T {
  const [R, C] = x.shape;
  const [, n] = idx.shape;
  return tf.tidy(() => {
    const rowStart = tf.mul(tf.range(0, R, 1, 'int32'), tf.scalar(C, 'int32')); // [R]
    const flat = tf.add(tf.cast(idx, 'int32'), tf.expandDims(rowStart, 1)); // [R, n]
    return tf.reshape(tf.gather(tf.reshape(x, [R * C]), tf.reshape(flat, [R * n])), [R, n]) as T;
  });
}
