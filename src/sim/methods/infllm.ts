/**
 * infllm: InfLLM-style block selection (Xiao et al., 2024). The selectable range is cut into blocks of
 * `blockSize` tokens, each represented by `representativeKeys` of its keys; a query head scores a block by
 * sum_r q.k_rep_r and top blocks fill the budget, the last one cut.
 *
 * Representatives: InfLLM takes the tokens that received the most attention from the block's own queries
 * while it was the local window; a trace holds decode queries only, so the proxy used here is the keys with
 * the largest inner product with the block's mean key (what a query pointing at the block's average
 * direction attends most). A block shorter than representativeKeys (the last one) uses all its keys, scaled
 * by representativeKeys / size so its score stays on the scale of a sum of representativeKeys terms.
 * Since sum_r q.k_r = q.(sum_r k_r), a block's summary is the sum of its representatives. A block's score
 * over representativeKeys is the mean of those logits times sqrt(d): each of its tokens' logit estimate
 * (what the top-p wrapper reads, infllm-topp) is the score / (representativeKeys sqrt(d)).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { defineMethod, intParam, type ParamsOf } from './define.js';
import { reduceUnits, unitSelector, type UnitScheme } from './units.js';
import { BatchedUnits, unitsBytes } from './units-batched.js';

const PARAMS = {
  ...BUDGET_PARAMS,
  blockSize: intParam(128, 1, 'tokens per block'),
  representativeKeys: intParam(4, 1, 'representative keys per block (a block scores sum_r q.k_r)'),
};
export type InfLLMParams = ParamsOf<typeof PARAMS>;

export const infllm = defineMethod({
  name: 'infllm',
  summary: 'InfLLM-style blocks (Xiao et al., 2024): blocks ranked by q against their representative keys',
  budgeted: true,
  params: PARAMS,
  validate: (p) => {
    validateBudgetParams('infllm', p);
    if (p.representativeKeys > p.blockSize) {
      throw new RangeError(`infllm: parameter 'representativeKeys' (${p.representativeKeys}) must not exceed 'blockSize' (${p.blockSize})`);
    }
  },
  selector: (info, p) => unitSelector(info, p, infllmBlocks(p, info.headDim)),
  engine: { kind: 'batched', create: (layer, p) => new BatchedUnits(layer, p, infllmBlocks(p), 'infllm'), bytes: (shape, p) => unitsBytes(shape, p, infllmBlocks(p)) },
});

/** Sum of each block's representatives, scaled as described above: [G, U, d]. blocks: [G, U, s, d]. */
function representativeSum(blocks: tf.Tensor4D, representativeKeys: number): tf.Tensor3D {
  const [G, U, s, d] = blocks.shape;
  const r = Math.min(representativeKeys, s);
  return tf.tidy(() => {
    const flat = tf.reshape(blocks, [G * U, s, d]) as tf.Tensor3D;
    const mean = tf.mean(flat, 1, true); // [GU, 1, d]
    const affinity = tf.sum(tf.mul(flat, mean), 2); // [GU, s]
    const picked = tf.topk(affinity, r, true).indices; // [GU, r]
    // a flat gather: tf.gather with batchDims returns wrong rows on wasm (see src/gpu/gatherRows.ts)
    const rows = tf.add(picked, tf.expandDims(tf.mul(tf.range(0, G * U, 1, 'int32'), tf.scalar(s, 'int32')), 1));
    const reps = tf.reshape(tf.gather(tf.reshape(flat, [G * U * s, d]), tf.reshape(rows, [G * U * r])), [G * U, r, d]);
    return tf.reshape(tf.mul(tf.sum(reps, 1), representativeKeys / r), [G, U, d]) as tf.Tensor3D;
  });
}

/** Block summaries [G, U, d]. keys: [G, m, d]. */
export function infllmBlockSummaries(keys: tf.Tensor3D, blockSize: number, representativeKeys: number): tf.Tensor3D {
  return reduceUnits(keys, blockSize, (blocks) => representativeSum(blocks, representativeKeys));
}

/**
 * InfLLM's units: blocks of blockSize tokens, representative sums, scored by q as it is; with the head
 * dimension, each token's logit estimate is its block's score / (representativeKeys sqrt(d)) (the mean
 * representative logit).
 */
function infllmBlocks(params: InfLLMParams, headDim?: number): UnitScheme {
  const logitScale = headDim === undefined ? undefined : 1 / (params.representativeKeys * Math.sqrt(headDim));
  return { kind: 'block', unitSize: params.blockSize, summarise: (keys) => infllmBlockSummaries(keys, params.blockSize, params.representativeKeys), query: 'identity', ...(logitScale !== undefined && { logitScale }) };
}
