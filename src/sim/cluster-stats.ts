/**
 * Clustering statistics (docs/DESIGN.md#clustering-diagnostics): per KV head and cluster, the size and the
 * intra-cluster cosine dispersion, mean over members of 1 - cos(k_i, centroid). Feeds the cluster-size and
 * dispersion figures of src/plot. Per-cluster sums use a one-hot matMul (no unsortedSegmentSum on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { floatOneHot, normalise } from '../gpu/kmeans.js';

export interface ClusterStatRow {
  kvHead: number;
  cluster: number;
  /** member tokens */
  size: number;
  /** mean of 1 - cos(key, centroid) over members; null for an empty cluster */
  dispersion: number | null;
}

/**
 * keys: [G, N, d] (the clustered keys); labels: [G, N] int32 in 0..k-1; centroids: [G, k, d].
 * Returns G * k rows, kvHead-major. Inputs are borrowed.
 */
export async function clusterStats(keys: tf.Tensor3D, labels: tf.Tensor2D, centroids: tf.Tensor3D): Promise<ClusterStatRow[]> {
  const [G, N, d] = keys.shape;
  const k = centroids.shape[1];
  if (labels.shape[0] !== G || labels.shape[1] !== N) throw new RangeError(`labels must be [${G}, ${N}] (G, N), got [${labels.shape.join(', ')}]`);
  if (centroids.shape[0] !== G || centroids.shape[2] !== d) throw new RangeError(`centroids must be [${G}, k, ${d}] (G, k, d), got [${centroids.shape.join(', ')}]`);
  const stats = tf.tidy(() => {
    const member = floatOneHot(tf.cast(labels, 'int32') as tf.Tensor2D, k); // [G, N, k]
    const cosAll = tf.matMul(normalise(tf.cast(keys, 'float32') as tf.Tensor3D), tf.transpose(normalise(tf.cast(centroids, 'float32') as tf.Tensor3D), [0, 2, 1])); // [G, N, k]
    const distance = tf.sum(tf.mul(member, tf.sub(1, cosAll)), 2); // [G, N]: 1 - cos to own centroid
    const sizes = tf.sum(member, 1); // [G, k]
    const sums = tf.squeeze(tf.matMul(tf.expandDims(distance, 1), member), [1]); // [G, k]
    return tf.stack([sizes, sums]); // [2, G, k]
  });
  const values = await stats.data();
  stats.dispose();
  const rows: ClusterStatRow[] = [];
  for (let g = 0; g < G; g++) {
    for (let c = 0; c < k; c++) {
      const size = Math.round(values[g * k + c]);
      const sum = values[G * k + g * k + c];
      rows.push({ kvHead: g, cluster: c, size, dispersion: size > 0 ? sum / size : null });
    }
  }
  return rows;
}
