/**
 * oracle: the forced positions (sinks, open decode window, current token) plus the exact top-B selectable
 * positions by q.k per query head: no method attending the same forced set and B more tokens keeps more
 * attention mass, so it is the upper bound at equal budget.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KVStore } from '../kv-store.js';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { planStep, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { BatchedOracle } from './oracle-batched.js';
import { defineMethod, type ParamsOf } from './define.js';

const PARAMS = { ...BUDGET_PARAMS };
export type OracleParams = ParamsOf<typeof PARAMS>;

export const oracle = defineMethod({
  name: 'oracle',
  summary: 'the exact top-B selectable tokens by q.k per query head: the upper bound at equal budget',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('oracle', p),
  selector: (info, p) => oracleSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedOracle(layer, p) },
});

function oracleSelector(info: LayerInfo, params: OracleParams): LayerSelector {
  const store = new KVStore();
  let prefillLength = 0;
  const groupSize = info.heads / info.kvHeads;
  // the selectable keys [G, m, d], sliced again only when the selectable range moves (a decode window closes)
  let selectable: { sinkEnd: number; openStart: number; keys: tf.Tensor3D } | null = null;
  const selectableKeys = (sinkEnd: number, openStart: number): tf.Tensor3D => {
    if (selectable?.sinkEnd !== sinkEnd || selectable.openStart !== openStart) {
      selectable?.keys.dispose();
      selectable = { sinkEnd, openStart, keys: tf.keep(tf.slice(store.keys, [0, sinkEnd, 0], [-1, openStart - sinkEnd, -1])) };
    }
    return selectable.keys;
  };
  return {
    prefill(keys, values) {
      store.append(keys, values);
      prefillLength = keys.shape[1];
    },
    async step(q, kNew, vNew): Promise<Selection> {
      store.append(kNew, vNew);
      const { layout, forced, chosen } = planStep(store.length - 1, prefillLength, params);
      const tokens = tf.tidy(() => {
        if (chosen === 0) return withForced(forced, null, info.heads);
        // scores [G, r, m]: query heads of a group against their KV head's selectable keys
        const qg = tf.reshape(q, [info.kvHeads, groupSize, info.headDim]);
        const scores = tf.reshape(tf.matMul(qg, selectableKeys(layout.sinkEnd, layout.openStart), false, true), [info.heads, -1]);
        return withForced(forced, tf.add(tf.topk(scores, chosen, false).indices, tf.scalar(layout.sinkEnd, 'int32')) as tf.Tensor2D, info.heads);
      });
      return { tokens, selectedCount: chosen };
    },
    dispose() {
      selectable?.keys.dispose();
      selectable = null;
      store.dispose();
    },
  };
}
