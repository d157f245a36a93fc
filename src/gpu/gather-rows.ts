/**
 * Row-wise gather: out[h, j] = x[h, idx[h, j]]. x: [R, C]; idx: [R, n] int32; returns [R, n].
 * Written as a flat gather because tf.gather with batchDims = 1 returns wrong rows on the wasm
 * backend (tfjs 4.22: rows after the first read the wrong batch once C and n grow).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * x[idx] along axis 0: x [R, ...rest]; idx [n] int32; returns [n, ...rest]. tf.gather, except on the wasm and
 * cpu backends, whose GatherV2 walks every element with index arithmetic (tfjs 4.22, wasm: 420 ms for 65536
 * rows of 128 floats) while GatherNd copies slices (32 ms). WebGPU keeps tf.gather (its parity and benchmark
 * numbers are for that kernel).
 */
export function takeRows<T extends tf.Tensor>(x: T, idx: tf.Tensor1D): T {
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') return tf.tidy(() => tf.gatherND(x, tf.expandDims(idx, 1))) as T;
  return tf.gather(x, idx) as T;
}

export function gatherRows<T extends tf.Tensor2D>(x: T, idx: tf.Tensor2D): T {
  const [R, C] = x.shape;
  const [, n] = idx.shape;
  return tf.tidy(() => {
    const rowStart = tf.mul(tf.range(0, R, 1, 'int32'), tf.scalar(C, 'int32')); // [R]
    const flat = tf.add(tf.cast(idx, 'int32'), tf.expandDims(rowStart, 1)); // [R, n]
    return tf.reshape(takeRows(tf.reshape(x, [R * C]), tf.reshape(flat, [R * n]) as tf.Tensor1D), [R, n]) as T;
  });
}
