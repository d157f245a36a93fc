/**
 * oracle: the forced positions (sinks, open decode window, current token) plus the exact top-B selectable
 * positions by q.k per query head: no method attending the same forced set and B more tokens keeps more
 * attention mass, so it is the upper bound at equal budget.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeLayout, forcedPositions, selectableBudget, validateBudget, type BudgetMode } from '../budget.js';
import { KVStore } from '../kv-store.js';
import type { LayerInfo, LayerSelector, Method, Selection } from '../selector.js';
import { validateCommon } from './params.js';

export interface OracleParams {
  budget: number;
  budgetMode: BudgetMode;
  sinks: number;
  window: number;
}

export const ORACLE_DEFAULTS: Omit<OracleParams, 'budget'> = { budgetMode: 'selected', sinks: 16, window: 320 };

export function oracleMethod(options: Partial<OracleParams> & { budget: number }): Method {
  const params: OracleParams = { ...ORACLE_DEFAULTS, ...options };
  validateCommon('oracle', params);
  validateBudget(params.budget, params.budgetMode, params.sinks);
  return {
    name: 'oracle',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer: (info) => oracleSelector(info, params),
  };
}

function oracleSelector(info: LayerInfo, params: OracleParams): LayerSelector {
  const store = new KVStore();
  let prefillLength = 0;
  const groupSize = info.heads / info.kvHeads;
  return {
    prefill(keys, values) {
      store.append(keys, values);
      prefillLength = keys.shape[1];
    },
    step(q, kNew, vNew): Selection {
      store.append(kNew, vNew);
      const layout = decodeLayout(store.length - 1, prefillLength, params.sinks, params.window);
      const b = selectableBudget(params.budget, params.budgetMode, layout);
      const forced = forcedPositions(layout);
      const tokens = tf.tidy(() => {
        const forcedT = tf.tile(tf.expandDims(tf.tensor1d(forced, 'int32'), 0), [info.heads, 1]);
        if (b === 0) return forcedT as tf.Tensor2D;
        const selectable = tf.slice(store.keys, [0, layout.sinkEnd, 0], [-1, layout.openStart - layout.sinkEnd, -1]);
        // scores [G, r, m]: query heads of a group against their KV head's selectable keys
        const qg = tf.reshape(q, [info.kvHeads, groupSize, info.headDim]);
        const scores = tf.reshape(tf.matMul(qg, selectable, false, true), [info.heads, -1]);
        const top = tf.add(tf.topk(scores, b, false).indices, tf.scalar(layout.sinkEnd, 'int32'));
        return tf.concat([forcedT, top], 1) as tf.Tensor2D;
      });
      return { tokens, selectedCount: b };
    },
    dispose() {
      store.dispose();
    },
  };
}
