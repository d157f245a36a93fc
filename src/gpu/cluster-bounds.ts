/**
 * Quest's upper bound of q.k over a box (Tang et al., 2024), for any grouping of keys (Quest's pages,
 * ClusterKV's clusters with scoring 'bound'): with the box's per-dimension max and min,
 *   bound(q) = sum_i max(q_i max_i, q_i min_i) = relu(q) . max + min(q, 0) . min,
 * one inner product of the mapped query [relu(q), min(q, 0)] with the summary [max, min] (D = 2d), so the
 * same ranking code scores boxes and centroids.
 */
import * as tf from '@tensorflow/tfjs-core';
import { floatOneHot } from './kmeans.js';

/** Elements one masked reduction holds at once (64 MB of float32). */
const MAX_ELEMENTS = 1 << 24;

/** [H, 2d] = [relu(q), min(q, 0)]. q: [H, d]. */
export function boundQuery(q: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.concat([tf.relu(q), tf.minimum(q, 0)], 1) as tf.Tensor2D);
}

/**
 * How a unit scoring maps the query before its inner product with a unit's summary: as it is ('identity':
 * centroids, InfLLM's representative sums) or to the box bound's [relu(q), min(q, 0)] ('bound': boxes).
 */
export type QueryMap = 'identity' | 'bound';

/** The query [H, d] mapped for a scoring: a new tensor, [H, d] or [H, 2d]. */
export function mapQuery(q: tf.Tensor2D, map: QueryMap): tf.Tensor2D {
  return map === 'bound' ? boundQuery(q) : tf.clone(q);
}

/** Clusters per chunk of clusterBoxes for keys [G, N, d]: no [G, N, c, d] operand past MAX_ELEMENTS (at least 1). */
function boxChunk(G: number, N: number, d: number): number {
  return Math.max(1, Math.floor(MAX_ELEMENTS / Math.max(1, G * N * d)));
}

/**
 * The most bytes clusterBoxes holds at once for keys [G, N, d] into k clusters (its chunk's [G, N, c, d]
 * operands, six alive in one tidy, and the chunk's one-hot, masks and counts), on top of its inputs and output.
 */
export function clusterBoxesScratchBytes(G: number, N: number, k: number, d: number): number {
  const c = Math.min(k, boxChunk(G, N, d));
  return 4 * (6 * G * N * c * d + 6 * G * N * Math.max(c, 2));
}

/**
 * Box summaries [G, k, 2d] = [max, min] of each cluster's keys. keys: [G, N, d]; labels: [G, N] int32 in
 * 0..k-1. An empty cluster gets a zero box (it holds no token, so its rank takes nothing).
 * A masked max over the keys, chunked over clusters so that no [G, N, c, d] operand passes MAX_ELEMENTS.
 */
export function clusterBoxes(keys: tf.Tensor3D, labels: tf.Tensor2D, k: number): tf.Tensor3D {
  const [G, N, d] = keys.shape;
  if (labels.shape[0] !== G || labels.shape[1] !== N) throw new RangeError(`labels must be [G = ${G}, N = ${N}], got [${labels.shape.join(', ')}]`);
  const chunk = boxChunk(G, N, d);
  const maxParts: tf.Tensor3D[] = [];
  const minParts: tf.Tensor3D[] = [];
  for (let c0 = 0; c0 < k; c0 += chunk) {
    const c = Math.min(chunk, k - c0);
    const [mx, mn] = tf.tidy(() => {
      // membership as a float one-hot over clusters c0..c0+c-1 (labels outside give zero rows): on webgpu a
      // bool -> float32 cast only relabels the bool buffer, and reductions of it (transposes) then fail to
      // compile and take the whole command buffer down with them (tfjs 4.22)
      const shifted = tf.sub(labels, tf.scalar(c0, 'int32')) as tf.Tensor2D;
      // (depth 2 for a single cluster: floatOneHot's depth 1 assumes every label is 0)
      const oneHot = c === 1 ? (tf.slice(floatOneHot(shifted, 2), [0, 0, 0], [-1, -1, 1]) as tf.Tensor3D) : floatOneHot(shifted, c); // [G, N, c]
      const m = tf.expandDims(oneHot, 3); // [G, N, c, 1]
      const k4 = tf.expandDims(tf.cast(keys, 'float32'), 2); // [G, N, 1, d]
      // select by arithmetic, not a broadcasting tf.where (~75x slower on wasm: 11.5 s against 0.155 s)
      const outside = tf.sub(1, m);
      const hi = tf.max(tf.add(tf.mul(m, k4), tf.mul(outside, -3.4e38)), 1) as tf.Tensor3D; // [G, c, d]
      const lo = tf.min(tf.add(tf.mul(m, k4), tf.mul(outside, 3.4e38)), 1) as tf.Tensor3D;
      const empty = tf.expandDims(tf.equal(tf.sum(oneHot, 1), 0), 2); // [G, c, 1]
      const zero = tf.zerosLike(hi);
      return [tf.where(empty, zero, hi), tf.where(empty, zero, lo)];
    });
    maxParts.push(mx as tf.Tensor3D);
    minParts.push(mn as tf.Tensor3D);
  }
  return tf.tidy(() => {
    if (k === 0) return tf.zeros([G, 0, 2 * d]) as tf.Tensor3D;
    const mx = maxParts.length === 1 ? maxParts[0] : tf.concat(maxParts, 1);
    const mn = minParts.length === 1 ? minParts[0] : tf.concat(minParts, 1);
    const out = tf.concat([mx, mn], 2) as tf.Tensor3D;
    tf.dispose([...maxParts, ...minParts]);
    return out;
  });
}
