/**
 * Pieces shared by the budgeted methods: the step layout under the shared budget accounting (budget.ts) and
 * the forced positions every selection starts with.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeLayout, forcedPositions, selectableBudget, type DecodeLayout, type ForcedSetParams } from '../budget.js';
import type { BudgetChooser, StepBudget } from '../selector.js';
import { emptyBeyond, resolveBudget } from './head-budgets.js';

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
 * [0, chosen], or [H] such integers (one per query head). The scores stay the caller's.
 */
export async function chooseFromScores(choose: BudgetChooser, scores: tf.Tensor2D, logitScale: number, chosen: number): Promise<StepBudget> {
  const logits = tf.mul(scores, logitScale) as tf.Tensor2D;
  let b: StepBudget;
  try {
    b = await choose({ logits }, chosen);
  } finally {
    logits.dispose();
  }
  const heads = scores.shape[0];
  const bad = (x: number) => !Number.isInteger(x) || x < 0 || x > chosen;
  if (typeof b === 'number' ? bad(b) : b.length !== heads || b.some(bad)) {
    throw new RangeError(`a budget chooser must give an integer in [0, ${chosen}] or ${heads} of them (one per query head), got ${typeof b === 'number' ? b : `[${b.join(', ')}]`}`);
  }
  return b;
}

/**
 * Each head's top positions by `scores` [H, m] (of the positions offset..offset + m - 1) at `budget`:
 * chosen [H, slots] (null when slots is 0), a head's slots past its own count empty (head-budgets.ts).
 */
export function topByScores(scores: tf.Tensor2D, budget: StepBudget, offset: number): { chosen: tf.Tensor2D | null; selectedCount: number; selectedPerHead?: Int32Array } {
  const { slots, perHead } = resolveBudget(budget);
  if (slots === 0) return { chosen: null, selectedCount: 0 };
  return tf.tidy(() => {
    // one count: any order of the top (sorted false, as before per-head budgets); per head: rank order, to cut
    const top = tf.add(tf.topk(scores, slots, perHead !== null).indices, tf.scalar(offset, 'int32')) as tf.Tensor2D;
    return perHead ? { chosen: emptyBeyond(top, perHead), selectedCount: slots, selectedPerHead: perHead } : { chosen: top, selectedCount: slots };
  });
}
