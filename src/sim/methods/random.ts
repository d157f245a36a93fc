/**
 * random: a uniform sample of `budget` distinct tokens from the selectable range, drawn afresh per decode
 * step and query head, plus the forced positions. The floor any ranking method should beat.
 * Deterministic for a seed: layer l draws from mulberry32(seed mixed with l), steps and heads in order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { distinctIndices, mulberry32 } from '../../gpu/random.js';
import type { LayerInfo, LayerSelector, Method, Selection } from '../selector.js';
import { BASELINE_DEFAULTS, planStep, resolveBaseline, withForced, type BaselineParams } from './baseline.js';
import { requireInt } from './params.js';

export interface RandomParams extends BaselineParams {
  seed: number;
}

export const RANDOM_DEFAULTS: Omit<RandomParams, 'budget'> = { ...BASELINE_DEFAULTS, seed: 0 };

export function randomMethod(options: Partial<RandomParams> & { budget: number }): Method {
  const params = resolveBaseline<RandomParams>('random', RANDOM_DEFAULTS, options);
  requireInt('random', 'seed', params.seed, 0);
  return {
    name: 'random',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer: (info) => randomSelector(info, params),
  };
}

/** The PRNG seed of a layer: distinct layers get unrelated streams. */
export function layerSeed(seed: number, layer: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(layer + 1, 0xc2b2ae35)) >>> 0;
}

function randomSelector(info: LayerInfo, params: RandomParams): LayerSelector {
  const next = mulberry32(layerSeed(params.seed, info.layer));
  let prefillLength = 0;
  let length = 0;
  return {
    prefill(keys) {
      prefillLength = length = keys.shape[1];
    },
    step(_q, kNew): Selection {
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
