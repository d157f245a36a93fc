/**
 * The cluster index: per KV head, token positions grouped by cluster, with cluster sizes and offsets,
 * so that cluster c of head g is sortedTokens[g, offsets[g,c] .. offsets[g,c] + sizes[g,c]).
 *
 * Sorting uses tf.topk over -label (a full sort), whose documented tie rule (lower index first) makes it
 * stable: within a cluster, tokens keep their input order. Appending (decode windows) adds clusters with
 * the next ids and never touches existing ones, as ClusterKV never re-clusters the prompt.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from './gather-rows.js';

export interface ClusterIndex {
  /** [G, N] int32: clustered token positions, grouped by cluster id ascending */
  sortedTokens: tf.Tensor2D;
  /** [G, K] int32: tokens per cluster */
  sizes: tf.Tensor2D;
  /** [G, K] int32: exclusive prefix sum of sizes along K (start of each cluster in sortedTokens) */
  offsets: tf.Tensor2D;
  /** K, clusters per KV head */
  clusters: number;
  /** N, clustered tokens per KV head */
  tokens: number;
}

/**
 * labels: [G, N] int32 cluster ids in 0..k-1. tokenIds: the position of each labelled token, either
 * [G, N] per head or [N] shared by every head (default 0..N-1). The result is new; inputs are borrowed.
 */
export function buildClusterIndex(labels: tf.Tensor2D, k: number, tokenIds?: tf.Tensor2D | tf.Tensor1D | Int32Array): ClusterIndex {
  if (labels.rank !== 2) throw new RangeError(`labels must be [G, N], got shape [${labels.shape.join(', ')}]`);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k (clusters) must be a non-negative integer, got ${k}`);
  const [G, N] = labels.shape;
  if (N > 0 && k === 0) throw new RangeError(`k (clusters) is 0 but ${N} tokens are labelled`);
  const ids = tokenIds instanceof Int32Array ? undefined : tokenIds;
  if (tokenIds instanceof Int32Array && tokenIds.length !== N) throw new RangeError(`tokenIds has ${tokenIds.length} entries, expected N = ${N}`);
  if (ids && ids.shape[ids.rank - 1] !== N) throw new RangeError(`tokenIds must have N = ${N} entries per head, got shape [${ids.shape.join(', ')}]`);
  return tf.tidy(() => {
    if (N === 0 || k === 0) {
      const none = tf.zeros([G, k], 'int32') as tf.Tensor2D;
      return { sortedTokens: tf.zeros([G, 0], 'int32') as tf.Tensor2D, sizes: none, offsets: tf.clone(none), clusters: k, tokens: 0 };
    }
    // float labels are exact (k < 2^24); topk of -label sorts ascending, ties keep input order
    const sortedDesc = tf.topk(tf.neg(tf.cast(labels, 'float32')), N, true);
    const order = sortedDesc.indices; // [G, N]
    // sizes and offsets from the sorted labels: cluster c spans [first label >= c, first label > c).
    // No bincount: WebGPU's adds with a float atomic into whatever dtype (wrong counts, tfjs 4.22), and a
    // [G, N, k] one-hot passes the 2 GB binding limit at 131K tokens.
    const sortedLabels = tf.neg(sortedDesc.values); // [G, N] ascending
    const clusterIds = tf.broadcastTo(tf.range(0, k, 1, 'float32'), [G, k]);
    const offsets = tf.cast(tf.searchSorted(sortedLabels, clusterIds, 'left'), 'int32') as tf.Tensor2D;
    const sizes = tf.sub(tf.cast(tf.searchSorted(sortedLabels, clusterIds, 'right'), 'int32'), offsets) as tf.Tensor2D;
    let sorted: tf.Tensor;
    if (tokenIds === undefined) sorted = order;
    else if (tokenIds instanceof Int32Array) sorted = tf.gather(tf.tensor1d(tokenIds, 'int32'), order);
    else if (tokenIds.rank === 1) sorted = tf.gather(tf.cast(tokenIds as tf.Tensor, 'int32'), order);
    else sorted = gatherRows(tf.cast(tokenIds as tf.Tensor2D, 'int32'), order as tf.Tensor2D);
    return { sortedTokens: sorted as tf.Tensor2D, sizes, offsets, clusters: k, tokens: N };
  });
}

/**
 * A new index with the clusters of `index` followed by `k` new ones (ids K..K+k-1) built from
 * labelsNew [G, n] (ids 0..k-1 within the new group) at positions tokenIdsNew ([G, n] or [n]).
 * `index` is left as is (the caller disposes it when done).
 */
export function appendClusters(index: ClusterIndex, labelsNew: tf.Tensor2D, k: number, tokenIdsNew: tf.Tensor2D | tf.Tensor1D | Int32Array): ClusterIndex {
  const part = buildClusterIndex(labelsNew, k, tokenIdsNew);
  const out = tf.tidy(() => ({
    sortedTokens: tf.concat([index.sortedTokens, part.sortedTokens], 1) as tf.Tensor2D,
    sizes: tf.concat([index.sizes, part.sizes], 1) as tf.Tensor2D,
    offsets: tf.concat([index.offsets, tf.add(part.offsets, tf.scalar(index.tokens, 'int32'))], 1) as tf.Tensor2D,
    clusters: index.clusters + part.clusters,
    tokens: index.tokens + part.tokens,
  }));
  disposeClusterIndex(part);
  return out;
}

/** An index with no clusters and no tokens, for G KV heads (a prompt no longer than the sinks). */
export function emptyClusterIndex(G: number): ClusterIndex {
  const noLabels = tf.zeros([G, 0], 'int32') as tf.Tensor2D;
  const index = buildClusterIndex(noLabels, 0);
  noLabels.dispose();
  return index;
}

export function disposeClusterIndex(index: ClusterIndex): void {
  tf.dispose([index.sortedTokens, index.sizes, index.offsets]);
}
