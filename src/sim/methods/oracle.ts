/**
 * oracle: the forced positions (sinks, open decode window, current token) plus the exact top-B selectable
 * positions by q.k per query head: no method attending the same forced set and B more tokens keeps more
 * attention mass, so it is the upper bound at equal budget. Its scores are the exact logits, so under the
 * top-p wrapper (top-p.ts) it is the ideal adaptive budget.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KVStore } from '../kv-store.js';
import type { BudgetChooser, LayerInfo, ScoringSelector, Selection } from '../selector.js';
import { chooseFromScores, planStep, topByScores, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { BatchedOracle, oracleBytes } from './oracle-batched.js';
import { defineMethod, type ParamsOf } from './define.js';
import { SelectableKeys } from './selectable-keys.js';

const PARAMS = { ...BUDGET_PARAMS };
export type OracleParams = ParamsOf<typeof PARAMS>;

export const oracle = defineMethod({
  name: 'oracle',
  summary: 'the exact top-B selectable tokens by q.k per query head: the upper bound at equal budget',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('oracle', p),
  selector: (info, p) => oracleSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedOracle(layer, p), bytes: oracleBytes },
});

function oracleSelector(info: LayerInfo, params: OracleParams): ScoringSelector {
  const store = new KVStore();
  const selectable = new SelectableKeys(store, info);
  let prefillLength = 0;
  const stepWithBudget = async (q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose: BudgetChooser | null): Promise<Selection> => {
    store.append(kNew, vNew);
    const { layout, forced, chosen } = planStep(store.length - 1, prefillLength, params);
    if (chosen === 0) return { tokens: withForced(forced, null, info.heads), selectedCount: 0 };
    // scores [H, m]: each query head against its KV head's selectable keys
    const scores = selectable.scores(q, layout.sinkEnd, layout.openStart);
    try {
      const b = choose ? await chooseFromScores(choose, scores, 1 / Math.sqrt(info.headDim), chosen) : chosen;
      const { chosen: top, ...counts } = topByScores(scores, b, layout.sinkEnd);
      const tokens = withForced(forced, top, info.heads);
      top?.dispose();
      return { tokens, ...counts };
    } finally {
      scores.dispose();
    }
  };
  return {
    prefill(keys, values) {
      store.append(keys, values);
      prefillLength = keys.shape[1];
    },
    step: (q, kNew, vNew) => stepWithBudget(q, kNew, vNew, null),
    stepWithBudget,
    dispose() {
      selectable.dispose();
      store.dispose();
    },
  };
}
