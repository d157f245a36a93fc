/**
 * Batched cosine K-means over KV heads, the clustering step of ClusterKV.
 *
 * Rule (docs/DESIGN.md#k-means): assignment = argmax of cosine(normalised key, normalised centroid) (ties: lowest
 * cluster id, tf.argMax's rule); update = arithmetic mean of the members' RAW keys; an empty cluster keeps
 * its old centroid; a fixed number of iterations; labels recomputed after the last update. A zero key
 * normalises to zero (cosine 0 with everything), so it joins cluster 0 unless another scores above 0.
 *
 * Formulation, chosen by timing on wasm (single thread; ms per iteration, G=1, N=32768, d=128, k=400):
 *   assignment  matMul(keysNorm [G,N,d], centroidsNorm^T pre-transposed [G,d,k])   110 ms
 *               (matMul(..., transposeB=true) took 1210 ms)
 *   update      matMul(oneHot(labels)^T [G,k,N] (explicit transpose), keys [G,N,d])  320-400 ms
 *               (transposeA=true took 1400 ms; a broadcast equal() one-hot 1100 ms; keys^T x oneHot 440 ms)
 * No unsortedSegmentSum (absent on wasm).
 * cosineKMeans is a declared kernel (kernel-dispatch.ts): on webgpu the WGSL kernels (wgsl/kmeans/kmeans-passes.ts:
 * fused assign, segment sums, update; every iteration in one compute pass) where kmeansFits, reading packed
 * f16 keys as they are ('wgsl-f16') or float32 keys ('wgsl'); on wasm with several heads and no given start,
 * the op chain one head at a time (perHead); else, or with setKernelPath('ops') or env CLUSTERKV_KERNELS=ops,
 * the batched op chain. Keys may be packed f16 (half-tensor.ts): the op chains read their decoded float32
 * values, and the initial centroids are drawn from those values on every path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isHalf, kvShape, withFloat, type KvTensor } from './half-tensor.js';
import { declareKernel } from './kernel-dispatch.js';
import { distinctIndices, mulberry32 } from '../trace/random.js';
import { cosineKMeansWgsl, kmeansFits } from './wgsl/kmeans/kmeans-passes.js';

export interface KMeansOptions {
  /** update iterations (0: labels from the initial centroids) */
  iters: number;
  /** seed of the initial choice of keys (ignored when init is given) */
  seed: number;
  /** [G, k, d] initial centroids (borrowed); default: k distinct random keys per head */
  init?: tf.Tensor3D;
}

export interface KMeansResult {
  /** [G, k, d] float32 */
  centroids: tf.Tensor3D;
  /** [G, N] int32, cluster id of each key in 0..k-1 */
  labels: tf.Tensor2D;
}

export function validateKMeans(n: number, k: number, iters: number): void {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`k (clusters) must be a positive integer, got ${k}`);
  if (k > n) throw new RangeError(`more clusters (k = ${k}) than tokens (N = ${n})`);
  if (!Number.isInteger(iters) || iters < 0) throw new RangeError(`iters must be a non-negative integer, got ${iters}`);
}

/** Per head, k distinct key indices drawn with the seeded PRNG (head g uses the stream after head g-1). */
export function initialIndices(heads: number, n: number, k: number, seed: number): Int32Array[] {
  const next = mulberry32(seed);
  const out: Int32Array[] = [];
  for (let g = 0; g < heads; g++) out.push(distinctIndices(n, k, next));
  return out;
}

/**
 * keys: [G, N, d] float32, or packed f16 (half-tensor.ts); returns centroids [G, k, d] float32 and labels
 * [G, N] (int32). The caller owns the result.
 */
export function cosineKMeans(keys: KvTensor, k: number, opts: KMeansOptions): KMeansResult {
  const shape = kvShape(keys);
  if (shape.length !== 3) throw new RangeError(`keys must be [G, N, d], got shape [${shape.join(', ')}]`);
  const [G, N, d] = shape;
  validateKMeans(N, k, opts.iters);
  if (opts.init && (opts.init.shape[0] !== G || opts.init.shape[1] !== k || opts.init.shape[2] !== d)) {
    throw new RangeError(`init must be [${G}, ${k}, ${d}] (G, k, d), got [${opts.init.shape.join(', ')}]`);
  }
  return cosineKMeansKernel.run(keys, k, opts);
}

/** keys [G, N, d] (float32 or packed f16); k clusters; options checked by cosineKMeans -> centroids [G, k, d], labels [G, N]. */
type KMeansArgs = [keys: KvTensor, k: number, opts: KMeansOptions];

/** The WGSL kernels on keys as they are stored: the initial centroids from the given start, or drawn from the (decoded) keys. */
function kmeansWgsl(keys: KvTensor, k: number, opts: KMeansOptions): KMeansResult {
  const start = opts.init ? (tf.cast(opts.init, 'float32') as tf.Tensor3D) : withFloat(keys, (raw) => initialCentroids(raw, k, opts.seed));
  const result = cosineKMeansWgsl(keys, k, opts.iters, start);
  start.dispose();
  return result;
}

const wgslFits = (keys: KvTensor, k: number) => {
  const [G, N, d] = kvShape(keys);
  return kmeansFits(G, N, k, d, isHalf(keys) ? 'f16' : 'f32');
};

export const cosineKMeansKernel = declareKernel<KMeansArgs, KMeansResult>('kmeans', [
  { name: 'wgsl-f16', path: 'wgsl', fits: (keys, k) => isHalf(keys) && wgslFits(keys, k), run: kmeansWgsl },
  { name: 'wgsl', path: 'wgsl', fits: (keys, k) => !isHalf(keys) && wgslFits(keys, k), run: kmeansWgsl },
  { name: 'ops-per-head', path: 'ops', fits: (keys, _k, opts) => tf.getBackend() === 'wasm' && kvShape(keys)[0] > 1 && !opts.init, run: (keys, k, opts) => withFloat(keys, (raw) => perHead(raw, k, opts)) },
  { name: 'ops', path: 'ops', run: (keys, k, opts) => withFloat(keys, (raw) => batchedKMeans(raw, k, opts)) },
]);

/** The batched op chain (the reference formulation; see the module comment for the timings behind it). */
function batchedKMeans(keys: tf.Tensor3D, k: number, opts: KMeansOptions): KMeansResult {
  // cast gives new handles we own (sharing data when already float32), so the inputs stay borrowed
  const raw = tf.cast(keys, 'float32') as tf.Tensor3D;
  const normed = normalise(raw);
  let centroids = opts.init ? (tf.cast(opts.init, 'float32') as tf.Tensor3D) : initialCentroids(raw, k, opts.seed);
  for (let it = 0; it < opts.iters; it++) {
    const next = tf.tidy(() => updateCentroids(raw, assign(normed, centroids), centroids, k));
    centroids.dispose();
    centroids = next;
  }
  const labels = assign(normed, centroids);
  tf.dispose([normed, raw]);
  return { centroids, labels };
}

/**
 * The op chain one KV head at a time, for wasm: there a batched matMul ([G, n, d] x [G, d, k]) takes ~13x longer
 * than G single-batch ones (tfjs-wasm hands only batch 1 to XNNPACK: 432 vs 32 ms at G = 2, n = 8176, d = 64,
 * k = 205), and K-means was 70% of a sweep's time there. Each head starts from the keys the batched call picks
 * (initialIndices: head g's draws follow head g-1's), so only the float summation order of the matMuls differs.
 */
function perHead(keys: tf.Tensor3D, k: number, opts: KMeansOptions): KMeansResult {
  const [G, n, d] = keys.shape;
  const picks = initialIndices(G, n, k, opts.seed);
  const heads: KMeansResult[] = [];
  try {
    for (let g = 0; g < G; g++) {
      const head = tf.slice(keys, [g, 0, 0], [1, n, d]) as tf.Tensor3D;
      const init = tf.tidy(() => tf.reshape(tf.gather(tf.reshape(head, [n, d]), tf.tensor1d(picks[g], 'int32')), [1, k, d]) as tf.Tensor3D);
      heads.push(cosineKMeans(head, k, { ...opts, init }));
      tf.dispose([head, init]);
    }
    return tf.tidy(() => ({
      centroids: tf.concat(heads.map((h) => h.centroids), 0) as tf.Tensor3D,
      labels: tf.concat(heads.map((h) => h.labels), 0) as tf.Tensor2D,
    }));
  } finally {
    for (const h of heads) tf.dispose([h.centroids, h.labels]);
  }
}

/** Row-wise L2 normalisation along the last axis; zero rows stay zero. x: [G, M, d]. */
export function normalise(x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 2, true), 1e-30)) as tf.Tensor3D);
}

/**
 * Tokens per chunk so that a [G, chunk, k] intermediate (scores, one-hot) stays within 2^27 elements
 * (512 MB of float32): WebGPU binds at most 2 GB per buffer, and a 131K-token prompt with k = 1639 would
 * need 6.9 GB in one piece. Chunking changes no result (labels are per token; sums add up per chunk).
 */
export function tokenChunk(G: number, N: number, k: number): number {
  return Math.max(1, Math.min(N, Math.floor(2 ** 27 / Math.max(1, G * k))));
}

/** Cluster id of each key: argmax cosine. normedKeys: [G, N, d] (normalised); centroids: [G, k, d] (raw). */
export function assign(normedKeys: tf.Tensor3D, centroids: tf.Tensor3D): tf.Tensor2D {
  const [G, N, d] = normedKeys.shape;
  const k = centroids.shape[1];
  const chunk = tokenChunk(G, N, k);
  return tf.tidy(() => {
    const cT = tf.transpose(normalise(centroids), [0, 2, 1]); // [G, d, k], pre-transposed for wasm
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < N; start += chunk) {
      const n = Math.min(chunk, N - start);
      const part = n === N ? normedKeys : tf.slice(normedKeys, [0, start, 0], [G, n, d]);
      parts.push(tf.argMax(tf.matMul(part, cT), 2));
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
  });
}

/**
 * [G, n, k] float32 one-hot of labels [G, n]. wasm's OneHot ignores dtype 'float32' (writes int bits into a
 * float buffer), so there it is built as int32 and cast (a real conversion on wasm); elsewhere it is built as
 * float32 directly, because webgpu's int32 -> float32 cast only relabels the int buffer, which kernels that
 * index it directly (transpose, matMul) then reject (tfjs 4.22).
 */
export function floatOneHot(labels: tf.Tensor2D, k: number): tf.Tensor3D {
  // tf.oneHot rejects depth 1 (one window cluster is a valid setting): every label is 0 then
  if (k === 1) return tf.onesLike(tf.expandDims(tf.cast(labels, 'float32'), 2)) as tf.Tensor3D;
  return (tf.getBackend() === 'wasm' ? tf.cast(tf.oneHot(labels, k), 'float32') : tf.oneHot(labels, k, 1, 0, 'float32')) as tf.Tensor3D;
}

/** Mean of members' raw keys; empty clusters keep `old`. keys: [G, N, d]; labels: [G, N]; old: [G, k, d]. */
function updateCentroids(keys: tf.Tensor3D, labels: tf.Tensor2D, old: tf.Tensor3D, k: number): tf.Tensor3D {
  const [G, N, d] = keys.shape;
  const chunk = tokenChunk(G, N, k);
  const explicitTranspose = tf.getBackend() === 'wasm'; // fast there; transposeA is fast elsewhere
  let sums: tf.Tensor | null = null;
  let counts: tf.Tensor | null = null;
  for (let start = 0; start < N; start += chunk) {
    const n = Math.min(chunk, N - start);
    const member = floatOneHot(n === N ? labels : tf.slice(labels, [0, start], [G, n]), k); // [G, n, k]
    const keysPart = n === N ? keys : tf.slice(keys, [0, start, 0], [G, n, d]);
    const partSums = explicitTranspose ? tf.matMul(tf.transpose(member, [0, 2, 1]), keysPart) : tf.matMul(member, keysPart, true, false); // [G, k, d]
    const partCounts = tf.sum(member, 1); // [G, k]
    sums = sums ? tf.add(sums, partSums) : partSums;
    counts = counts ? tf.add(counts, partCounts) : partCounts;
  }
  const count3 = tf.expandDims(counts!, 2); // [G, k, 1]
  const mean = tf.div(sums!, tf.maximum(count3, 1));
  const nonEmpty = tf.broadcastTo(tf.greater(count3, 0), old.shape);
  return tf.where(nonEmpty, mean, old) as tf.Tensor3D;
}

function initialCentroids(keys: tf.Tensor3D, k: number, seed: number): tf.Tensor3D {
  const [G, N, d] = keys.shape;
  const picks = initialIndices(G, N, k, seed);
  const flat = new Int32Array(G * k);
  for (let g = 0; g < G; g++) for (let j = 0; j < k; j++) flat[g * k + j] = g * N + picks[g][j];
  return tf.tidy(() => tf.reshape(tf.gather(tf.reshape(keys, [G * N, d]), tf.tensor1d(flat, 'int32')), [G, k, d]) as tf.Tensor3D);
}
