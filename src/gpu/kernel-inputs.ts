/**
 * Seeded inputs for the kernel list (parity and bench): one decode step's tensors with cluster structure.
 *
 *   keys [G, T, d]     planted topic directions (K per KV head, uneven weights, so cluster sizes vary as in
 *                      real traces) plus noise; values [G, T, d] noise; q [H, d]
 *   labels [G, T]      the planted topic of each key, index = buildClusterIndex(labels, K)
 *   centroids [G, K, d] the planted directions
 * Floats come from the host (mulberry32: identical on every backend, for parity) or, for large shapes, from a
 * sine hash computed on the device (no host generation or upload of a 131K-token cache).
 */
import * as tf from '@tensorflow/tfjs-core';
import { buildClusterIndex, disposeClusterIndex, type ClusterIndex } from './cluster-index.js';
import { mulberry32 } from '../trace/random.js';

export interface KernelShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** T: cached (and clustered) tokens per KV head */
  context: number;
  /** K: clusters per KV head */
  clusters: number;
  /** B: tokens a ClusterKV step attends per query head */
  budget: number;
  kmeansIters: number;
  seed: number;
  /** noise around the planted directions (relative to centres of scale 1.7); small: well-separated clusters */
  keyNoise: number;
}

export interface Workload {
  q: tf.Tensor2D;
  keys: tf.Tensor3D;
  values: tf.Tensor3D;
  centroids: tf.Tensor3D;
  labels: tf.Tensor2D;
  index: ClusterIndex;
}

/** Floats in [-1, 1): host-made up to this many elements, device-made beyond. */
const HOST_LIMIT = 1 << 22;

function hostNoise(shape: number[], rand: () => number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rand() * 2 - 1;
  return tf.tensor(out, shape, 'float32');
}

/** Pseudo-random values in [-1, 1) made on the device (a sine hash of the element index). */
function deviceNoise(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const i = tf.range(0, n, 1, 'int32'); // int32: float32 indices past 2^24 would repeat
    const lo = tf.cast(tf.mod(i, tf.scalar(65521, 'int32')), 'float32');
    const hi = tf.cast(tf.floorDiv(i, tf.scalar(65521, 'int32')), 'float32');
    const h = tf.mul(tf.sin(tf.add(tf.mul(lo, 12.9898), tf.add(tf.mul(hi, 78.233), seed % 1000))), 43758.5453);
    return tf.reshape(tf.sub(tf.mul(tf.sub(h, tf.floor(h)), 2), 1), shape);
  });
}

/** The planted cluster of every key, [G * T] (row-major [G, T]); the cluster weights come from `rand`. */
function plantedLabels(shape: KernelShape, rand: () => number): Int32Array {
  const { kvHeads: G, context: T, clusters: K } = shape;
  const weights = Array.from({ length: K }, () => 0.2 + 2.8 * rand());
  const cdf = weights.map(((sum) => (w: number) => (sum += w))(0));
  const total = cdf[K - 1];
  const labelData = new Int32Array(G * T);
  for (let i = 0; i < labelData.length; i++) {
    // every cluster gets its first member among the first K tokens, so none is empty
    if (i % T < K) {
      labelData[i] = i % T;
      continue;
    }
    const u = rand() * total;
    let lo = 0;
    let hi = K - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    labelData[i] = lo;
  }
  return labelData;
}

/** Sizes of the planted clusters, [G * K] (the workload index's sizes), without making any tensor. */
export function plantedClusterSizes(shape: KernelShape): number[] {
  const labels = plantedLabels(shape, mulberry32(shape.seed));
  const sizes = new Array<number>(shape.kvHeads * shape.clusters).fill(0);
  for (let i = 0; i < labels.length; i++) sizes[Math.floor(i / shape.context) * shape.clusters + labels[i]] += 1;
  return sizes;
}

/** The seeded workload of `shape` on the active backend; dispose with disposeWorkload. */
export function plantedWorkload(shape: KernelShape): Workload {
  const { kvHeads: G, context: T, headDim: d, clusters: K, heads: H } = shape;
  const rand = mulberry32(shape.seed);
  const labelData = plantedLabels(shape, rand);
  const host = G * T * d <= HOST_LIMIT;
  const seeds = [1, 2, 3, 4].map(() => Math.floor(rand() * 1e6));
  const noise = (s: number[], i: number) => (host ? hostNoise(s, mulberry32(seeds[i])) : deviceNoise(s, seeds[i]));
  const made = tf.tidy(() => {
    const centroids = tf.mul(noise([G, K, d], 0), 1.7) as tf.Tensor3D;
    const labels = tf.tensor2d(labelData, [G, T], 'int32');
    const rows = tf.add(labels, tf.mul(tf.expandDims(tf.range(0, G, 1, 'int32'), 1), tf.scalar(K, 'int32')));
    const base = tf.reshape(tf.gather(tf.reshape(centroids, [G * K, d]), rows), [G, T, d]);
    const keys = tf.add(base, tf.mul(noise([G, T, d], 1), shape.keyNoise)) as tf.Tensor3D;
    const values = noise([G, T, d], 2) as tf.Tensor3D;
    const q = tf.mul(noise([H, d], 3), 1.7) as tf.Tensor2D;
    return { q, keys, values, centroids, labels };
  });
  return { ...made, index: buildClusterIndex(made.labels, K) };
}

export function disposeWorkload(w: Workload): void {
  tf.dispose([w.q, w.keys, w.values, w.centroids, w.labels]);
  disposeClusterIndex(w.index);
}
