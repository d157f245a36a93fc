/**
 * Pieces shared by the budgeted methods: the step layout under the shared budget accounting (budget.ts) and
 * the forced positions every selection starts with.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeLayout, forcedPositions, selectableBudget, type DecodeLayout, type ForcedSetParams } from '../budget.js';
import type { BudgetChooser } from '../selector.js';

/** The shared parameters a step plan needs (see budget-params.ts). */
export type { ForcedSetParams } from '../budget.js';

export interface StepPlan {
  layout: DecodeLayout;
  /** forced positions (sinks, open window, current token), ascending */
  forced: Int32Array;
  /** tokens the method chooses from [layout.sinkEnd, layout.openStart) */
  chosen: number;
}

export function planStep(position: number, prefillLength: number, params: ForcedSetParams): StepPlan {
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

/**
 * The budget `choose` picks for a step from a method's scores [H, m] of the selectable tokens, `logitScale`
 * times which are its logit estimates (1 / sqrt(d) for inner products q.k); checked to be an integer in
 * [0, chosen]. The scores stay the caller's.
 */
export async function chooseFromScores(choose: BudgetChooser, scores: tf.Tensor2D, logitScale: number, chosen: number): Promise<number> {
  const logits = tf.mul(scores, logitScale) as tf.Tensor2D;
  let b: number;
  try {
    b = await choose({ logits }, chosen);
  } finally {
    logits.dispose();
  }
  if (!Number.isInteger(b) || b < 0 || b > chosen) throw new RangeError(`a budget chooser must give an integer in [0, ${chosen}], got ${b}`);
  return b;
}
