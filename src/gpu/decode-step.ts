/**
 * One ClusterKV decode step's kernels: select the clusters (selection.ts) and attend their tokens
 * (attention.ts's sparseAttention). On webgpu the three WGSL dispatches (select, attention partials, merge)
 * go in one compute pass and one submit, and the token list never becomes a tensor; elsewhere, or with the
 * op path forced, the op chains.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sparseAttention } from './attention.js';
import type { ClusterIndex } from './cluster-index.js';
import { isHalf, kvDtype, kvShape, type KvTensor } from './half-tensor.js';
import { wgslActive } from './kernel-path.js';
import { disposeClusterSelection, selectClusters } from './selection.js';
import { attentionFits } from './wgsl/attention/decode-attention.js';
import { decodeStepSubgroup, decodeStepWgsl } from './wgsl/attention/select-and-attend.js';
import { subgroupAttentionFits } from './wgsl/attention/subgroup-attention.js';
import { selectFits } from './wgsl/select/select-clusters.js';
import { thresholdSelectFits } from './wgsl/select/select-threshold.js';

/**
 * Attention output [H, d] over the n = min(budget, N) tokens of the top-ranked clusters.
 * q [H, d]; centroids [G, K, D] scored against summaryQuery [H, D] (default q: inner-product scoring);
 * index over the same K clusters; keys, values [G, T, d]. Centroids, keys and values float32 or packed f16.
 */
export function selectAndAttend(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number, keys: KvTensor, values: KvTensor, summaryQuery: tf.Tensor2D = q): tf.Tensor2D {
  const [H, d] = q.shape;
  const [, K, D] = kvShape(centroids);
  const G = kvShape(keys)[0];
  const n = Math.min(budget, index.tokens);
  const fused = Number.isInteger(budget) && budget >= 0 && K === index.clusters && summaryQuery.shape[1] === D && n > 0 && wgslActive();
  if (fused && thresholdSelectFits(K, D, kvDtype(centroids)) && subgroupAttentionFits(H, G, d, kvDtype(keys))) {
    return decodeStepSubgroup(q, summaryQuery, centroids, index, n, keys, values);
  }
  if (fused && !isHalf(centroids) && !isHalf(keys) && !isHalf(values) && selectFits(K) && attentionFits(H, G, d)) {
    return decodeStepWgsl(q, summaryQuery, centroids, index, n, keys, values);
  }
  const sel = selectClusters(summaryQuery, centroids, index, budget);
  const out = sparseAttention(q, keys, values, sel.tokens);
  disposeClusterSelection(sel);
  return out;
}
