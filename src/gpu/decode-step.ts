/**
 * One ClusterKV decode step's kernels: select the clusters (selection.ts) and attend their tokens
 * (attention.ts's sparseAttention), a declared kernel (kernel-dispatch.ts). On webgpu the three WGSL
 * dispatches (select, attention partials, merge) go in one compute pass and one submit, and the token list
 * never becomes a tensor: the subgroup kernels (threshold select, subgroup attention; centroids, K and V f32
 * or packed f16) where the device has subgroups and both fit, else the older kernels (float32 only);
 * elsewhere, or with the op path forced, selectClusters and sparseAttention (each dispatched in turn).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sparseAttention } from './attention.js';
import type { ClusterIndex } from './cluster-index.js';
import { isHalf, kvDtype, kvShape, type KvTensor } from './half-tensor.js';
import { declareKernel } from './kernel-dispatch.js';
import { disposeClusterSelection, selectClusters } from './selection.js';
import { attentionFits } from './wgsl/attention/decode-attention.js';
import { decodeStepSubgroup, decodeStepWgsl } from './wgsl/attention/select-and-attend.js';
import { subgroupAttentionFits } from './wgsl/attention/subgroup-attention.js';
import { selectFits } from './wgsl/select/select-clusters.js';
import { thresholdSelectFits } from './wgsl/select/select-threshold.js';

type StepArgs = [q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number, keys: KvTensor, values: KvTensor, summaryQuery: tf.Tensor2D];

/**
 * Whether a fused step applies at all: a valid budget that selects at least one token, a scoring query of the
 * centroids' D and an index over the same clusters (anything else, invalid inputs included, runs the
 * composition: selectClusters names the problem).
 */
function stepApplies(centroids: KvTensor, index: ClusterIndex, budget: number, summaryQuery: tf.Tensor2D): boolean {
  const [, K, D] = kvShape(centroids);
  return Number.isInteger(budget) && budget >= 0 && K === index.clusters && summaryQuery.shape[1] === D && Math.min(budget, index.tokens) > 0;
}

/** The subgroup step: both subgroup kernels take the shapes and storages (K and V of one storage). */
function subgroupFits(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number, keys: KvTensor, values: KvTensor, summaryQuery: tf.Tensor2D): boolean {
  const [H, d] = q.shape;
  const [, K, D] = kvShape(centroids);
  return stepApplies(centroids, index, budget, summaryQuery) && kvDtype(keys) === kvDtype(values) && thresholdSelectFits(K, D, kvDtype(centroids)) && subgroupAttentionFits(H, kvShape(keys)[0], d, kvDtype(keys));
}

/** The older fused step: float32 centroids, K and V, and shapes both older WGSL kernels fit. */
function fusedFits(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number, keys: KvTensor, values: KvTensor, summaryQuery: tf.Tensor2D): boolean {
  const [H, d] = q.shape;
  const float = !isHalf(centroids) && !isHalf(keys) && !isHalf(values);
  return float && stepApplies(centroids, index, budget, summaryQuery) && selectFits(kvShape(centroids)[1]) && attentionFits(H, kvShape(keys)[0], d);
}

export const selectAndAttendKernel = declareKernel<StepArgs, tf.Tensor2D>('clusterkv-step', [
  {
    name: 'wgsl-subgroup',
    path: 'wgsl',
    fits: subgroupFits,
    run: (q, centroids, index, budget, keys, values, summaryQuery) => decodeStepSubgroup(q, summaryQuery, centroids, index, Math.min(budget, index.tokens), keys, values),
  },
  {
    // fusedFits: centroids, K and V are float32 here
    name: 'wgsl',
    path: 'wgsl',
    fits: fusedFits,
    run: (q, centroids, index, budget, keys, values, summaryQuery) => decodeStepWgsl(q, summaryQuery, centroids as tf.Tensor3D, index, Math.min(budget, index.tokens), keys as tf.Tensor3D, values as tf.Tensor3D),
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
 * index over the same K clusters; keys, values [G, T, d]. Centroids, keys and values float32 or packed f16.
 */
export function selectAndAttend(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number, keys: KvTensor, values: KvTensor, summaryQuery: tf.Tensor2D = q): tf.Tensor2D {
  return selectAndAttendKernel.run(q, centroids, index, budget, keys, values, summaryQuery);
}
