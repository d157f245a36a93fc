/**
 * quest: Quest (Tang et al., 2024) query-aware page selection. The selectable range is cut into pages of
 * `pageSize` tokens; per page and KV head, the element-wise min and max of its keys; a query head scores a
 * page by the upper bound of q.k over the page's box, sum_i max(q_i min_i, q_i max_i); top pages fill the
 * budget, the last one cut.
 * The bound is computed as one inner product: sum_i max(q_i min_i, q_i max_i) = relu(q).max + min(q, 0).min,
 * so pages carry the summary [max, min] (2d) and the query maps to [relu(q), min(q, 0)].
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, LayerSelector, Method } from '../selector.js';
import { BASELINE_DEFAULTS, resolveBaseline, type BaselineParams } from './baseline.js';
import { requireInt } from './params.js';
import { reduceUnits, unitSelector } from './units.js';

export interface QuestParams extends BaselineParams {
  pageSize: number;
}

export const QUEST_DEFAULTS: Omit<QuestParams, 'budget'> = { ...BASELINE_DEFAULTS, pageSize: 16 };

export function questMethod(options: Partial<QuestParams> & { budget: number }): Method {
  const params = resolveBaseline<QuestParams>('quest', QUEST_DEFAULTS, options);
  requireInt('quest', 'pageSize', params.pageSize, 1);
  return {
    name: 'quest',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer: (info) => questSelector(info, params),
  };
}

/** Page summaries [G, U, 2d] = [max, min] of each page's keys. keys: [G, m, d]. */
export function questPageSummaries(keys: tf.Tensor3D, pageSize: number): tf.Tensor3D {
  return reduceUnits(keys, pageSize, (pages) => tf.concat([tf.max(pages, 2), tf.min(pages, 2)], 2) as tf.Tensor3D);
}

/** [H, 2d] = [relu(q), min(q, 0)]. q: [H, d]. */
export function questQuery(q: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.concat([tf.relu(q), tf.minimum(q, 0)], 1) as tf.Tensor2D);
}

function questSelector(info: LayerInfo, params: QuestParams): LayerSelector {
  return unitSelector(info, params, {
    kind: 'page',
    unitSize: params.pageSize,
    summarise: (keys) => questPageSummaries(keys, params.pageSize),
    mapQuery: questQuery,
  });
}
