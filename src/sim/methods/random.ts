/**
 * random: a uniform sample of `budget` distinct tokens from the selectable range, drawn afresh per decode
 * step and query head, plus the forced positions. The floor any ranking method should beat.
 * Deterministic for a seed: layer l draws from mulberry32(layerSeed(seed, l)) (src/trace/seeds.ts), steps and heads in order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { distinctIndices, mulberry32 } from '../../trace/random.js';
import { layerSeed } from '../../trace/seeds.js';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { planStep, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { defineMethod, intParam, type ParamsOf } from './define.js';
import { BatchedRandom, randomBytes } from './random-batched.js';

const PARAMS = {
  ...BUDGET_PARAMS,
  seed: intParam(0, 0, 'seed of the draws (each layer derives its own stream)'),
};
export type RandomParams = ParamsOf<typeof PARAMS>;

export const random = defineMethod({
  name: 'random',
  summary: 'a uniform sample of B selectable tokens per query head and step: the floor any ranking should beat',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('random', p),
  selector: (info, p) => randomSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedRandom(layer, p), bytes: randomBytes },
});

function randomSelector(info: LayerInfo, params: RandomParams): LayerSelector {
  const next = mulberry32(layerSeed(params.seed, info.layer));
  let prefillLength = 0;
  let length = 0;
  return {
    prefill(keys) {
      prefillLength = length = keys.shape[1];
    },
    async step(_q, kNew): Promise<Selection> {
      length += kNew.shape[1];
      const { layout, forced, chosen } = planStep(length - 1, prefillLength, params);
      const selectable = layout.openStart - layout.sinkEnd;
      const picks = new Int32Array(info.heads * chosen);
      for (let h = 0; h < info.heads; h++) {
        const idx = distinctIndices(selectable, chosen, next);
        for (let i = 0; i < chosen; i++) picks[h * chosen + i] = idx[i] + layout.sinkEnd;
      }
      const tokens = tf.tidy(() => withForced(forced, tf.tensor2d(picks, [info.heads, chosen], 'int32'), info.heads));
      return { tokens, selectedCount: chosen };
    },
    dispose() {},
  };
}
