/**
 * Bytes one decode step moves, by what they are: the bytes bound of a step (its time at the read ceiling)
 * and the e2e benchmark's achieved bandwidth both come from here.
 *   weights      every matrix and gain once per step for the whole batch (the weights' dtype), B embedding rows
 *   kv           K and V rows the attention kernels read (the cache's dtype): dense layers every position once
 *                per KV head, sparse layers each query head's list (sinks, selected, open window)
 *   selection    centroids (f32), cluster sizes and offsets, selected positions and token lists (i32)
 *   activations  the step's f32 activations, attention partials and logits
 */
import { STORAGE_BYTES, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import type { StepAttention } from './decode-engine.js';
import type { E2eStepBytes } from './e2e-report.js';
import { qkvRows, weightBytesPerStep, type EngineShape } from './shape.js';

export interface StepDTypes {
  weights: StorageDType;
  kv: StorageDType;
}

/** Bytes one step moves, from what the step attended (decode-engine.ts's StepAttention, its partials' splits included). */
export function stepBytes(shape: EngineShape, batch: number, info: Omit<StepAttention, 'dispatches'>, dtypes: StepDTypes = { weights: 'f32', kv: 'f32' }): E2eStepBytes {
  const { dim, hiddenDim, heads, kvHeads, headDim: d, vocabSize, layers } = shape;
  const B = batch;
  const H = B * heads;
  const G = B * kvHeads;
  const n = info.position + 1;
  const sparseLayers = info.attention === 'sparse' ? info.sparseLayers : 0;
  const denseLayers = layers - sparseLayers;
  const kv = STORAGE_BYTES[dtypes.kv] * (denseLayers * 2 * G * n * d + sparseLayers * 2 * H * info.sparseList * d);
  const selection = 4 * sparseLayers * (G * info.clusters * d + 2 * H * info.clusters + 2 * H * info.selected + 2 * H * info.sparseList);
  const partials = (splits: number) => 2 * H * splits * (d + 2);
  const perLayer = 2 * B * dim + B * dim + B * qkvRows(shape) + B * qkvRows(shape) + B * qkvRows(shape) + 2 * H * d + B * heads * d + 2 * B * dim + 2 * B * dim + B * dim + B * hiddenDim + B * hiddenDim + 2 * B * dim;
  const activations = 4 * (layers * perLayer + denseLayers * partials(info.splits.dense) + sparseLayers * partials(info.splits.sparse) + 2 * B * dim + 2 * B * dim + 2 * B * vocabSize);
  const weights = weightBytesPerStep(shape, batch, dtypes.weights);
  return { weights, kv, selection, activations, total: weights + kv + selection + activations };
}
