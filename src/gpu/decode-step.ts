/**
 * One ClusterKV decode step's kernels: select the clusters (selection.ts) and attend their tokens
 * (attention.ts's sparseAttention). On webgpu the three WGSL dispatches (select, attention partials, merge)
 * go in one compute pass and one submit, and the token list never becomes a tensor; elsewhere, or with the
 * op path forced, the op chains.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sparseAttention } from './attention.js';
import type { ClusterIndex } from './cluster-index.js';
import { wgslActive } from './kernel-path.js';
import { disposeClusterSelection, selectClusters } from './selection.js';
import { attentionFits } from './wgsl/attention/decode-attention.js';
import { decodeStepWgsl } from './wgsl/attention/select-and-attend.js';
import { selectFits } from './wgsl/select/select-clusters.js';

/**
 * Attention output [H, d] over the n = min(budget, N) tokens of the top-ranked clusters.
 * q [H, d]; centroids [G, K, D] scored against summaryQuery [H, D] (default q: inner-product scoring);
 * index over the same K clusters; keys, values [G, T, d].
 */
export function selectAndAttend(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, budget: number, keys: tf.Tensor3D, values: tf.Tensor3D, summaryQuery: tf.Tensor2D = q): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, K] = centroids.shape;
  const n = Math.min(budget, index.tokens);
  if (Number.isInteger(budget) && budget >= 0 && K === index.clusters && summaryQuery.shape[1] === centroids.shape[2] && n > 0 && wgslActive() && selectFits(K) && attentionFits(H, G, d)) {
    return decodeStepWgsl(q, summaryQuery, centroids, index, n, keys, values);
  }
  const sel = selectClusters(summaryQuery, centroids, index, budget);
  const out = sparseAttention(q, keys, values, sel.tokens);
  disposeClusterSelection(sel);
  return out;
}
