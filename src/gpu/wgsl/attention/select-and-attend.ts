/**
 * One ClusterKV decode step in one compute pass and one submit: select (token list into a pooled scratch
 * buffer that never becomes a tensor) -> sparse attention partials -> merge. Three dispatches: the older
 * kernels (decodeStepWgsl, f32) or the subgroup ones (decodeStepSubgroup, f32 or f16 K/V and centroids).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClusterIndex } from '../../cluster-index.js';
import { kvShape, type KvTensor } from '../../half-tensor.js';
import { attentionDispatches } from './decode-attention.js';
import { kvBuffer, subgroupAttentionDispatches } from './subgroup-attention.js';
import { bufferOf, outputTensor, record, scratchBuffer, storageReady } from '../runtime/runtime.js';
import { selectTokensDispatch } from '../select/select-clusters.js';
import { thresholdSelectDispatch } from '../select/select-threshold.js';

/**
 * Attention output [H, d] over the n = min(budget, N) tokens the selection takes. q [H, d] (attention
 * query); summaryQuery [H, D] and centroids [G, K, D] (the scoring: D = d for inner products); keys,
 * values [G, T, d]. K >= 1, n >= 1, selectFits(K).
 */
export function decodeStepWgsl(q: tf.Tensor2D, summaryQuery: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, n: number, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = keys.shape;
  const tokens = scratchBuffer(H * n * 4);
  const select = selectTokensDispatch(summaryQuery, centroids, index, n, tokens);
  const ready = [storageReady(q, 'f32'), storageReady(keys, 'f32'), storageReady(values, 'f32')];
  const out = outputTensor<tf.Rank.R2>([H, d], 'float32');
  const attend = attentionDispatches(bufferOf(ready[0].tensor, 'f32'), bufferOf(ready[1].tensor, 'f32'), bufferOf(ready[2].tensor, 'f32'), tokens, out.buffer, H, G, T, d, n);
  record([select.dispatch, ...attend.dispatches], [tokens, ...select.scratch, ...attend.scratch]);
  tf.dispose([...select.owned, ...ready.map((r) => r.owned)].filter((t): t is tf.Tensor => !!t));
  return out.tensor;
}

/**
 * The decode step on subgroups: the threshold select (select-threshold.ts) -> subgroup attention partials ->
 * merge, three dispatches in one pass. Centroids, keys and values float32 or packed f16. n >= 1;
 * thresholdSelectFits and subgroupAttentionFits hold.
 */
export function decodeStepSubgroup(q: tf.Tensor2D, summaryQuery: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, n: number, keys: KvTensor, values: KvTensor): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = kvShape(keys);
  const tokens = scratchBuffer(H * n * 4);
  const select = thresholdSelectDispatch(summaryQuery, centroids, index, n, tokens);
  const qr = storageReady(q, 'f32');
  const [kb, vb] = [kvBuffer(keys), kvBuffer(values)];
  const out = outputTensor<tf.Rank.R2>([H, d], 'float32');
  const attend = subgroupAttentionDispatches(bufferOf(qr.tensor, 'f32'), kb.buffer, vb.buffer, kb.dtype, tokens, out.buffer, H, G, T, d, n);
  record([select.dispatch, ...attend.dispatches], [tokens, ...select.scratch, ...attend.scratch]);
  tf.dispose([...select.owned, qr.owned, kb.owned, vb.owned].filter((t): t is tf.Tensor => !!t));
  return out.tensor;
}
