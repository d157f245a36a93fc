/**
 * Adaptive budgets over a ranking method, Twilight-style (Lin et al., 2025, arXiv 2502.02770: top-p
 * pruning of a sparse method's selection): at every step and query head, the method's own scores of the
 * selectable tokens are read as logits, p = softmax over the selectable range, and the head needs the
 * fewest top-scored tokens whose p sum to at least topP. That need is clamped to [floor, cap] with
 * cap = the step's budget B (what the method would choose alone) and floor = ceil(minShare cap). With
 * headBudget 'head' (the default) each query head spends its own clamped need: the method takes each head's
 * top that many by its own ranking, in slots up to the largest head's, the rest empty (head-budgets.ts).
 * 'mean' and 'max' give the layer's heads one count instead, kept for comparison: the mean of their clamped
 * needs (truncated, as InfiniGen averages its counts) or the largest (every head reaches topP by its
 * estimate, but one flat head then spends B for all, which on the synthetic traces tried is nearly every
 * step). The budget spent is reported per step (stats selectedTokens: the mean over heads, with
 * selectedTokensMin and selectedTokensMax; topPTokens: the mean unclamped need) and per row (head) as
 * tokensAttended; sweep summaries average it, so cells of equal mean budget can be compared.
 *
 * Wrapped: a method whose selector is a ScoringSelector (selector.ts), e.g. oracle (exact logits: the
 * ideal adaptive budget), clusterkv (each token read as its cluster's score), quest (page bounds), infllm
 * (block scores over representativeKeys: the mean representative logit), infinigen (partial-channel
 * scores). Not: full (no budget),
 * streaming and random (no scores: recency or chance say nothing of attention), h2o (evicting: its kept set
 * is exactly B and an evicted token never returns, so a budget that shrinks would evict for good),
 * clusterkv-refine (its pool is ClusterKV's and its final ranking exact scores: two rankings, not wrapped).
 */
import * as tf from '@tensorflow/tfjs-core';
import { referenceOnly } from '../batched-selector.js';
import { isScoringSelector, type BudgetChooser, type LayerSelector, type StepBudget } from '../selector.js';
import { spentBudgetStats } from './head-budgets.js';
import { choiceParam, positiveRatioParam, ratioParam, type MethodDefinition, type ParamSpecs, type ParamsOf } from './define.js';

export const HEAD_BUDGETS = ['head', 'max', 'mean'] as const;

export const TOP_P_PARAMS = {
  topP: positiveRatioParam(0.95, 'attention mass (by the method\'s own scores, softmax over the selectable tokens) each head must reach; 1: the whole budget'),
  minShare: ratioParam(0.1, 'floor of the budget as a share of B: at least ceil(minShare B) tokens per step'),
  headBudget: choiceParam<(typeof HEAD_BUDGETS)[number]>('head', HEAD_BUDGETS, "'head': each query head spends its own clamped need; or one count for the layer's heads: the 'mean' of their clamped needs (truncated, as InfiniGen counts), or their 'max'"),
};
export type TopPParams = ParamsOf<typeof TOP_P_PARAMS>;

/** The suffix of a wrapped method's name: quest-topp is quest under adaptive budgets. */
export const TOP_P_SUFFIX = '-topp';

/**
 * Per head, the fewest top tokens whose softmax mass reaches p: #{i : mass of the tokens ranked before i < p}.
 * logits: [H, m]. p >= 1 needs every token (float sums may stop short of 1).
 */
export async function topPCounts(logits: tf.Tensor2D, p: number): Promise<Int32Array> {
  const [H, m] = logits.shape;
  if (p >= 1 || m === 0) return new Int32Array(H).fill(m);
  const counts = tf.tidy(() => {
    const probs = tf.softmax(tf.topk(logits, m, true).values); // descending
    const before = tf.sub(tf.cumsum(probs, 1), probs); // mass of the tokens ranked above each
    return tf.sum(tf.cast(tf.less(before, p), 'int32'), 1);
  });
  const data = (await counts.data()) as Int32Array;
  counts.dispose();
  return data;
}

/**
 * The step's budget from per-head needs, each clamped to [floor, cap] (see the module comment): [H] the
 * clamped needs ('head'), or the layer's one count ('mean', 'max').
 */
export function layerBudget(needs: ArrayLike<number>, cap: number, params: Pick<TopPParams, 'minShare' | 'headBudget'>): StepBudget {
  const floor = Math.min(cap, Math.ceil(params.minShare * cap));
  const clamped = Int32Array.from(needs, (n) => Math.max(floor, Math.min(cap, n)));
  if (params.headBudget === 'head') return clamped;
  if (params.headBudget === 'max') return Math.max(...clamped);
  return Math.floor(clamped.reduce((a, b) => a + b, 0) / clamped.length);
}

/**
 * `base` under adaptive budgets: its parameters plus TOP_P_PARAMS, named base + '-topp'. ownBudgetRule: the
 * base's parameters that only shape its own budget rule (InfiniGen's alpha and select), which the wrapper
 * replaces: they are not the wrapper's parameters, and the base gets their defaults.
 */
export function withTopP<S extends ParamSpecs>(base: MethodDefinition<S>, ownBudgetRule: readonly (keyof S & string)[] = []): MethodDefinition {
  if (!base.budgeted) throw new RangeError(`${base.name}: a method without a budget cannot take adaptive budgets`);
  for (const key of Object.keys(TOP_P_PARAMS)) if (key in base.params) throw new RangeError(`${base.name}: parameter '${key}' clashes with the top-p wrapper's`);
  const name = base.name + TOP_P_SUFFIX;
  const kept = Object.entries(base.params).filter(([k]) => !ownBudgetRule.includes(k));
  const params = { ...Object.fromEntries(kept), ...TOP_P_PARAMS } as ParamSpecs;
  const baseOf = (p: Record<string, unknown>) => Object.fromEntries(Object.entries(base.params).map(([k, spec]) => [k, ownBudgetRule.includes(k) ? spec.default : p[k]])) as ParamsOf<S>;
  return {
    name,
    summary: `${base.name} under adaptive budgets: top-p of its own scores per head, Twilight-style (Lin et al., 2025), floored, capped at B`,
    budgeted: true,
    params,
    validate: (p) => base.validate?.(baseOf(p)),
    engine: referenceOnly("each step's budget is chosen on the host from the method's scores (top-p)"),
    selector: (info, p) => {
      const inner = base.selector(info, baseOf(p));
      if (!isScoringSelector(inner)) {
        inner.dispose();
        throw new RangeError(`${name}: method '${base.name}' exposes no scores to choose a budget from (it is no ScoringSelector)`);
      }
      const topP = p as unknown as TopPParams;
      let need = 0;
      const choose: BudgetChooser = async ({ logits }, chosen) => {
        const needs = await topPCounts(logits, topP.topP);
        need = needs.reduce((a, b) => a + b, 0) / needs.length;
        return layerBudget(needs, chosen, topP);
      };
      const selector: LayerSelector = {
        prefill: (keys, values, queries) => inner.prefill(keys, values, queries),
        async step(q, kNew, vNew) {
          need = 0;
          const s = await inner.stepWithBudget(q, kNew, vNew, choose);
          return { ...s, stats: { ...s.stats, ...spentBudgetStats(s.selectedCount, s.selectedPerHead), topPTokens: need } };
        },
        dispose: () => inner.dispose(),
      };
      return selector;
    },
  };
}
