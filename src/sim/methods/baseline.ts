/**
 * Pieces shared by the baseline methods (quest, infllm, streaming, h2o, random): their common parameters
 * with defaults and validation, and the step layout under the shared budget accounting (budget.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeLayout, forcedPositions, selectableBudget, validateBudget, type BudgetMode, type DecodeLayout } from '../budget.js';
import { validateCommon } from './params.js';

export interface BaselineParams {
  /** tokens chosen from the selectable range (mode 'selected') or including the sinks */
  budget: number;
  budgetMode: BudgetMode;
  sinks: number;
  window: number;
}

export const BASELINE_DEFAULTS: Omit<BaselineParams, 'budget'> = { budgetMode: 'selected', sinks: 16, window: 320 };

/** Merges defaults and checks the common parameters; errors name the method and the parameter. */
export function resolveBaseline<P extends BaselineParams>(method: string, defaults: Omit<P, 'budget'>, options: Partial<P> & { budget: number }): P {
  const known = new Set([...Object.keys(defaults), 'budget']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RangeError(`${method}: unknown parameter '${key}' (it takes ${[...known].join(', ')})`);
  }
  const params = { ...defaults, ...options } as P;
  validateCommon(method, params);
  try {
    validateBudget(params.budget, params.budgetMode, params.sinks);
  } catch (err) {
    throw new RangeError(`${method}: ${(err as Error).message}`);
  }
  return params;
}

export interface StepPlan {
  layout: DecodeLayout;
  /** forced positions (sinks, open window, current token), ascending */
  forced: Int32Array;
  /** tokens the method chooses from [layout.sinkEnd, layout.openStart) */
  chosen: number;
}

export function planStep(position: number, prefillLength: number, params: BaselineParams): StepPlan {
  const layout = decodeLayout(position, prefillLength, params.sinks, params.window);
  return { layout, forced: forcedPositions(layout), chosen: selectableBudget(params.budget, params.budgetMode, layout) };
}

/** [H, f + b] int32: the forced positions (same for every head) followed by each head's chosen ones. chosen: [H, b]. */
export function withForced(forced: Int32Array, chosen: tf.Tensor2D | null, heads: number): tf.Tensor2D {
  return tf.tidy(() => {
    const forcedT = tf.tile(tf.expandDims(tf.tensor1d(forced, 'int32'), 0), [heads, 1]) as tf.Tensor2D;
    if (!chosen || chosen.shape[1] === 0) return forcedT;
    return tf.concat([forcedT, tf.cast(chosen, 'int32')], 1) as tf.Tensor2D;
  });
}

export function requireRatio(method: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new RangeError(`${method}: parameter '${name}' must be a number in [0, 1], got ${String(value)}`);
  }
}
