/**
 * h2o: H2O (Zhang et al., 2023), heavy hitters + recent tokens, EVICTING. Per KV head, a kept set of the
 * selectable range holds exactly the budget: the most recent floor(recentRatio * b) selectable tokens plus the
 * tokens with the largest accumulated attention among those never evicted; a token left out is evicted for
 * good (it can never be recalled). Every query head of a KV head attends the same set (H2O's cache is per
 * KV head; the group's queries share it).
 *
 * Accumulated attention: after each step, each attended position gets the softmax weights (over the
 * attended set: forced + kept, as H2O accumulates on its own cache) summed over the group's query heads.
 * Tokens still in the open decode window are attended densely and accumulate too, so they carry their
 * score when the window closes and they become selectable.
 *
 * Prompt (a trace has no prompt queries, which H2O uses to build its first cache): at the first decode step
 * the accumulated attention starts as the full softmax weights of that step's queries over the whole context
 * (summed over the group), and the first kept set is the recent tokens plus the heavy hitters by it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { kvHeadOfQueryHead, queryGroupSize } from '../../gpu/heads.js';
import { KVStore } from '../kv-store.js';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { planStep, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { defineMethod, ratioParam, type ParamsOf } from './define.js';
import { BatchedH2O, h2oBytes } from './h2o-batched.js';

const PARAMS = {
  ...BUDGET_PARAMS,
  recentRatio: ratioParam(0.5, 'share of the budget kept for the most recent tokens; the rest goes to heavy hitters'),
};
export type H2OParams = ParamsOf<typeof PARAMS>;

export const h2o = defineMethod({
  name: 'h2o',
  summary: 'H2O (Zhang et al., 2023): heavy hitters by accumulated attention plus recent tokens, evicting',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('h2o', p),
  selector: (info, p) => h2oSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedH2O(layer, p, (b) => h2oRecentCount(b, p.recentRatio)), bytes: h2oBytes },
});

/** Recent tokens of a kept set of b. */
export function h2oRecentCount(b: number, recentRatio: number): number {
  return Math.floor(b * recentRatio);
}

function h2oSelector(info: LayerInfo, params: H2OParams): LayerSelector {
  const { heads, kvHeads, headDim } = info;
  const group = queryGroupSize(heads, kvHeads);
  const kvOf = kvHeadOfQueryHead(heads, kvHeads);
  const store = new KVStore();
  let prefillLength = 0;
  /** [G, length] 1 where a position may be attended (sinks, kept, open window), 0 once evicted */
  let alive: tf.Tensor2D | null = null;
  /** [G, length] accumulated attention */
  let acc: tf.Tensor2D | null = null;
  let started = false;

  const grow = (n: number) => {
    const nextAlive = tf.tidy(() => (alive ? tf.concat([alive, tf.ones([kvHeads, n])], 1) : tf.ones([kvHeads, n])) as tf.Tensor2D);
    const nextAcc = tf.tidy(() => (acc ? tf.concat([acc, tf.zeros([kvHeads, n])], 1) : tf.zeros([kvHeads, n])) as tf.Tensor2D);
    alive?.dispose();
    acc?.dispose();
    // kept: prefill may run inside a caller's tidy
    alive = tf.keep(nextAlive);
    acc = tf.keep(nextAcc);
  };

  return {
    prefill(keys, values) {
      store.append(keys, values);
      prefillLength = keys.shape[1];
      grow(prefillLength);
    },
    async step(q, kNew, vNew): Promise<Selection> {
      store.append(kNew, vNew);
      grow(kNew.shape[1]);
      const length = store.length;
      const { layout, forced, chosen } = planStep(length - 1, prefillLength, params);
      const { sinkEnd, openStart } = layout;
      const recent = h2oRecentCount(chosen, params.recentRatio);
      const heavy = chosen - recent;
      const aliveNow = alive as unknown as tf.Tensor2D;
      const accNow = acc as unknown as tf.Tensor2D;
      const out = tf.tidy(() => {
        // logits [G, group, length]
        const logits = tf.mul(tf.matMul(tf.reshape(q, [kvHeads, group, headDim]), store.keys, false, true), 1 / Math.sqrt(headDim));
        let score = accNow as tf.Tensor2D;
        if (!started) score = tf.add(score, tf.sum(tf.softmax(logits), 1));
        let kept: tf.Tensor2D | null = null; // [G, chosen] positions
        let nextAlive = aliveNow;
        if (chosen > 0) {
          const recentStart = openStart - recent;
          const parts: tf.Tensor2D[] = [];
          if (recent > 0) parts.push(tf.tile(tf.expandDims(tf.range(recentStart, openStart, 1, 'int32'), 0), [kvHeads, 1]) as tf.Tensor2D);
          if (heavy > 0) {
            const width = recentStart - sinkEnd;
            const candAlive = tf.slice(aliveNow, [0, sinkEnd], [-1, width]);
            const candScore = tf.where(tf.greater(candAlive, 0), tf.slice(score, [0, sinkEnd], [-1, width]), tf.fill([kvHeads, width], -Infinity));
            parts.push(tf.add(tf.topk(candScore, heavy, true).indices, tf.scalar(sinkEnd, 'int32')) as tf.Tensor2D);
          }
          kept = (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
          // the selectable range keeps exactly the kept positions; sinks and the open window stay attendable
          const rows = tf.tile(tf.expandDims(tf.range(0, kvHeads, 1, 'int32'), 1), [1, chosen]);
          const where = tf.reshape(tf.stack([rows, tf.sub(kept, tf.scalar(sinkEnd, 'int32'))], 2), [kvHeads * chosen, 2]);
          const keptMask = tf.scatterND(where, tf.ones([kvHeads * chosen]), [kvHeads, openStart - sinkEnd]);
          const pieces: tf.Tensor[] = [];
          if (sinkEnd > 0) pieces.push(tf.slice(aliveNow, [0, 0], [-1, sinkEnd]));
          pieces.push(keptMask);
          if (length > openStart) pieces.push(tf.slice(aliveNow, [0, openStart], [-1, length - openStart]));
          nextAlive = tf.concat(pieces, 1) as tf.Tensor2D;
        }
        // accumulate this step's attention over the attended set (= the positions still alive)
        const masked = tf.where(tf.greater(tf.expandDims(nextAlive, 1), 0), logits, tf.fill(logits.shape, -Infinity));
        const nextAcc = tf.add(score, tf.sum(tf.softmax(masked), 1)) as tf.Tensor2D;
        const chosenPerHead = kept ? (tf.gather(kept, tf.tensor1d(kvOf, 'int32')) as tf.Tensor2D) : null;
        const tokens = withForced(forced, chosenPerHead, heads);
        return { tokens, nextAlive: nextAlive === aliveNow ? tf.clone(aliveNow) : nextAlive, nextAcc };
      });
      started = true;
      aliveNow.dispose();
      accNow.dispose();
      alive = tf.keep(out.nextAlive);
      acc = tf.keep(out.nextAcc);
      return { tokens: out.tokens, selectedCount: chosen };
    },
    dispose() {
      alive?.dispose();
      acc?.dispose();
      alive = acc = null;
      store.dispose();
    },
  };
}
