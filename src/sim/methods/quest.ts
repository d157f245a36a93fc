/**
 * quest: Quest (Tang et al., 2024) query-aware page selection. The selectable range is cut into pages of
 * `pageSize` tokens; per page and KV head, the element-wise min and max of its keys; a query head scores a
 * page by the upper bound of q.k over the page's box, sum_i max(q_i min_i, q_i max_i); top pages fill the
 * budget, the last one cut.
 * The bound is computed as one inner product: sum_i max(q_i min_i, q_i max_i) = relu(q).max + min(q, 0).min,
 * so pages carry the summary [max, min] (2d) and the query maps to [relu(q), min(q, 0)].
 * Under the top-p wrapper (top-p.ts) each token's logit estimate is its page's bound / sqrt(d).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { defineMethod, intParam, type ParamsOf } from './define.js';
import { reduceUnits, unitSelector, type UnitScheme } from './units.js';
import { BatchedUnits, unitsBytes } from './units-batched.js';

const PARAMS = {
  ...BUDGET_PARAMS,
  pageSize: intParam(16, 1, 'tokens per page'),
};
export type QuestParams = ParamsOf<typeof PARAMS>;

export const quest = defineMethod({
  name: 'quest',
  summary: 'Quest (Tang et al., 2024): pages ranked by the upper bound of q.k over their per-dimension min/max box',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('quest', p),
  selector: (info, p) => unitSelector(info, p, questPages(p, info.headDim)),
  engine: { kind: 'batched', create: (layer, p) => new BatchedUnits(layer, p, questPages(p, layer.headDim), 'quest'), bytes: (shape, p) => unitsBytes(shape, p, questPages(p, shape.headDim)) },
});

/** Page summaries [G, U, 2d] = [max, min] of each page's keys. keys: [G, m, d]. */
export function questPageSummaries(keys: tf.Tensor3D, pageSize: number): tf.Tensor3D {
  return reduceUnits(keys, pageSize, (pages) => tf.concat([tf.max(pages, 2), tf.min(pages, 2)], 2) as tf.Tensor3D);
}

/**
 * Quest's units: pages of pageSize tokens, box summaries, scored by the bound; the page's bound is its
 * estimate of q.k for each of its tokens (an upper bound), so the selector is a ScoringSelector.
 */
function questPages(params: QuestParams, headDim: number): UnitScheme {
  return { kind: 'page', unitSize: params.pageSize, summarise: (keys) => questPageSummaries(keys, params.pageSize), query: 'bound', logitScale: 1 / Math.sqrt(headDim) };
}
