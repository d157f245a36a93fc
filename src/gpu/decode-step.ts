/**
 * One ClusterKV decode step's kernels: select the clusters (selection.ts) and attend their tokens
 * (attention.ts's sparseAttention), a declared kernel (kernel-dispatch.ts). On webgpu the three WGSL
 * dispatches (select, attention partials, merge) go in one compute pass and one submit, and the token list
 * never becomes a tensor; elsewhere, or with the op path forced, selectClusters and sparseAttention (each
 * dispatched in turn).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sparseAttention } from './attention.js';
import type { ClusterIndex } from './cluster-index.js';
import { declareKernel } from './kernel-dispatch.js';
import { disposeClusterSelection, selectClusters } from './selection.js';
import { attentionFits } from './wgsl/attention/decode-attention.js';
import { decodeStepWgsl } from './wgsl/attention/select-and-attend.js';
import { selectFits } from './wgsl/select/select-clusters.js';

type StepArgs = [q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, budget: number, keys: tf.Tensor3D, values: tf.Tensor3D, summaryQuery: tf.Tensor2D];

/**
 * The fused kernel takes a valid budget that selects at least one token, a scoring query of the centroids'
 * D, an index over the same clusters, and shapes both WGSL kernels fit; anything else (invalid inputs
 * included: selectClusters names the problem) runs the composition.
 */
function fusedFits(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, budget: number, keys: tf.Tensor3D, _values: tf.Tensor3D, summaryQuery: tf.Tensor2D): boolean {
  const [H, d] = q.shape;
  const [G, K] = centroids.shape;
  const n = Math.min(budget, index.tokens);
  return Number.isInteger(budget) && budget >= 0 && K === index.clusters && summaryQuery.shape[1] === centroids.shape[2] && n > 0 && selectFits(K) && attentionFits(H, G, d);
}

export const selectAndAttendKernel = declareKernel<StepArgs, tf.Tensor2D>('clusterkv-step', [
  {
    name: 'wgsl',
    path: 'wgsl',
    fits: fusedFits,
    run: (q, centroids, index, budget, keys, values, summaryQuery) => decodeStepWgsl(q, summaryQuery, centroids, index, Math.min(budget, index.tokens), keys, values),
  },
  {
    // selectClusters, then sparseAttention: each dispatched in turn (all op chains when 'ops' is forced)
    name: 'ops',
    path: 'ops',
    run: (q, centroids, index, budget, keys, values, summaryQuery) => {
      const sel = selectClusters(summaryQuery, centroids, index, budget);
      const out = sparseAttention(q, keys, values, sel.tokens);
      disposeClusterSelection(sel);
      return out;
    },
  },
]);

/**
 * Attention output [H, d] over the n = min(budget, N) tokens of the top-ranked clusters.
 * q [H, d]; centroids [G, K, D] scored against summaryQuery [H, D] (default q: inner-product scoring);
 * index over the same K clusters; keys, values [G, T, d].
 */
export function selectAndAttend(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, budget: number, keys: tf.Tensor3D, values: tf.Tensor3D, summaryQuery: tf.Tensor2D = q): tf.Tensor2D {
  return selectAndAttendKernel.run(q, centroids, index, budget, keys, values, summaryQuery);
}
