/**
 * Per-head budgets (StepBudget, selector.ts): a ranking method selects its top `slots` = the largest head's
 * count per query head, in rank order, and each head's slots past its own count become empty (position -1,
 * attending nothing). A ranking cut at b_h is the first b_h of the same ranking cut at slots (whole units in
 * rank order, the last one cut: src/gpu/selection.ts; a sorted top-k), so each head gets exactly what the
 * method would select at budget b_h alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClusterChoice } from '../../gpu/selection.js';
import type { StepBudget } from '../selector.js';
import { EMPTY_SLOT } from '../../gpu/empty-slot.js';


export interface ResolvedBudget {
  /** slots per head: the largest count */
  slots: number;
  /** [H] each head's count, where they differ; null: every head takes `slots` */
  perHead: Int32Array | null;
}

/** A step budget as slots and, where heads differ, per-head counts (equal per-head counts are one count). */
export function resolveBudget(budget: StepBudget): ResolvedBudget {
  if (typeof budget === 'number') return { slots: budget, perHead: null };
  let slots = 0;
  for (const b of budget) slots = Math.max(slots, b);
  return { slots, perHead: budget.every((b) => b === slots) ? null : budget };
}

/** [H, s] the ranked positions `ranked` [H, s] (rank order) with slot j of head h empty where j >= counts[h]. */
export function emptyBeyond(ranked: tf.Tensor2D, counts: Int32Array): tf.Tensor2D {
  const [H, s] = ranked.shape;
  if (counts.length !== H) throw new RangeError(`per-head counts must be [H = ${H}], got ${counts.length}`);
  return tf.tidy(() => {
    const slot = tf.expandDims(tf.range(0, s, 1, 'int32'), 0); // [1, s]
    const keep = tf.less(slot, tf.tensor2d(counts, [H, 1], 'int32')); // [H, s]
    return tf.where(keep, tf.cast(ranked, 'int32'), tf.fill([H, s], EMPTY_SLOT, 'int32')) as tf.Tensor2D;
  });
}

/**
 * The host view of a unit ranking cut at each head's own count: per head, the units in rank order while the
 * tokens taken before them are below counts[h], the last one cut; clustersTouched and lastClusterCutShare of
 * the cut ranking. choice: the ranking cut at the largest count.
 */
export function trimClusterChoice(choice: ClusterChoice, counts: Int32Array): ClusterChoice {
  const H = choice.ids.length;
  const out: ClusterChoice = { ids: [], sizes: [], taken: [], clustersTouched: 0, lastClusterCutShare: 0 };
  for (let h = 0; h < H; h++) {
    const taken: number[] = [];
    let left = counts[h];
    for (let i = 0; i < choice.ids[h].length && left > 0; i++) {
      const t = Math.min(left, choice.taken[h][i]);
      taken.push(t);
      left -= t;
    }
    const used = taken.length;
    out.ids.push(choice.ids[h].slice(0, used));
    out.sizes.push(choice.sizes[h].slice(0, used));
    out.taken.push(Int32Array.from(taken));
    out.clustersTouched += used / H;
    if (used > 0) out.lastClusterCutShare += (choice.sizes[h][used - 1] - taken[used - 1]) / choice.sizes[h][used - 1] / H;
  }
  return out;
}

/**
 * Per-step stats of the budget a selection spent per head: selectedTokens (mean over heads) and the
 * smallest and largest head's (selectedTokensMin, selectedTokensMax).
 */
export function spentBudgetStats(selectedCount: number, perHead: Int32Array | undefined): { selectedTokens: number; selectedTokensMin: number; selectedTokensMax: number } {
  if (!perHead) return { selectedTokens: selectedCount, selectedTokensMin: selectedCount, selectedTokensMax: selectedCount };
  let [sum, min, max] = [0, Infinity, -Infinity];
  for (const b of perHead) {
    sum += b;
    min = Math.min(min, b);
    max = Math.max(max, b);
  }
  return { selectedTokens: sum / perHead.length, selectedTokensMin: min, selectedTokensMax: max };
}
