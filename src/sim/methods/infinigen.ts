/**
 * infinigen: InfiniGen (Lee et al., OSDI 2024) speculative token selection. Queries and keys are skewed
 * per query head by an SVD basis of calibration queries (its offline skewing), a few partial channels of the
 * skewed query and keys give approximate scores s = q'.k / sqrt(d) (infinigen-skewing.ts), and InfiniGen
 * fetches the tokens with s >= max(s) - alpha: their count per head, averaged over the layer's heads (one
 * count for every head, as InfiniGen fetches), capped at the budget, each head taking its top tokens by s.
 * With select 'top-b' every step takes the top-B by s instead (equal-budget comparisons).
 *
 * Calibration (what the skew and channels are fit on): on the model path the prompt's queries
 * (LayerSelector.prefill; InfiniGen fits offline on a sample text, the prompt is our sample). Traces store
 * no prompt queries, and their stored queries are the decode steps scored (fit on them, a few channels span
 * the very queries scored: on a 4-step trace 3 of 64 channels gave the oracle's selection), so on traces the
 * fit is on the prompt's selectable keys (after the sinks), each query head on its KV head's: the key half
 * of InfiniGen's rule (its artifact takes the SVD of both and the top columns of both).
 * The query scored (`query`): with 'speculated' (the default), on the model path, InfiniGen's speculation:
 * layer l's query weights applied to layer l - 1's attention input (the normalised hidden state InfiniGen
 * holds one layer ahead), RoPE at the step's position (LayerInfo.speculatedQuery, from the model), then its
 * partial channels q' = q_spec M. InfiniGen folds the skew's columns into W_q offline (its partial query
 * weight); RoPE's position-dependent rotation sits between W_q and a skew fit on post-RoPE queries, so here
 * the speculated query is mapped after RoPE: the same partial-channel product. Traces hold no weights and no
 * previous layer's input, and the model's first layer has no layer before it: there the stored (or the
 * step's own) query is scored whatever `query` says. With 'exact' the step's own query is scored everywhere.
 * The decode engine (batched form, infinigen-batched.ts) runs both selects with query 'exact' ('speculated'
 * is reference-only there: its batched form is handed the step's queries only): q' = q M on the GPU, then
 * the top-B of q'.k over its key cache, or the threshold's count and the top b in B slots (the rest empty),
 * M fit at prefill by the same partialQueryMap on the prompt's queries (the engine hands them from its
 * prefill) or, given none, its selectable keys.
 * Defaults from the authors' artifact (snu-comparch/InfiniGen, accuracy/): partial weight ratio 0.2
 * (setup/setup.sh, PARTIAL_RATIO=0.2) and alpha 5 (src/modeling_llama_ours.py, its Llama-2 default; the
 * OPT examples use 4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { kvHeadOfQueryHead } from '../../gpu/heads.js';
import { KVStore } from '../kv-store.js';
import type { BudgetChooser, LayerInfo, ScoringSelector, Selection } from '../selector.js';
import { chooseFromScores, planStep, topByScores, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { BatchedInfiniGen, infinigenBytes } from './infinigen-batched.js';
import { choiceParam, defineMethod, positiveParam, positiveRatioParam, type ParamsOf } from './define.js';
import { partialChannelCount, partialQuery, partialQueryMap, selectablePromptKeys } from './infinigen-skewing.js';
import { SelectableKeys } from './selectable-keys.js';

export const INFINIGEN_SELECTS = ['threshold', 'top-b'] as const;
export const INFINIGEN_QUERIES = ['speculated', 'exact'] as const;

const PARAMS = {
  ...BUDGET_PARAMS,
  partialRatio: positiveRatioParam(0.2, "share of the head dimension used as partial channels, floor(r d) >= 1 (InfiniGen's partial weight ratio; its artifact's 0.2)"),
  alpha: positiveParam(5, "tokens with approximate score >= max - alpha are fetched (logits q.k / sqrt(d); the artifact's Llama-2 default 5)"),
  select: choiceParam<(typeof INFINIGEN_SELECTS)[number]>('threshold', INFINIGEN_SELECTS, "'threshold': InfiniGen's max - alpha count, capped at B; 'top-b': always the top B by approximate score"),
  query: choiceParam<(typeof INFINIGEN_QUERIES)[number]>('speculated', INFINIGEN_QUERIES, "'speculated': on the model path InfiniGen's query, speculated from the previous layer's attention input with this layer's query weights (traces and the first layer: the stored query; the engine runs 'exact' only); 'exact': the step's own query"),
};
export type InfiniGenParams = ParamsOf<typeof PARAMS>;

export const infinigen = defineMethod({
  name: 'infinigen',
  summary: "InfiniGen (Lee et al., 2024): partial channels of SVD-skewed q and k score tokens; those within alpha of the max, up to B (skew fit on prompt queries, traces: on prompt keys; the query speculated from the previous layer's attention input on the model path, the stored one on traces)",
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('infinigen', p),
  selector: (info, p) => infinigenSelector(info, p),
  engine: {
    kind: 'batched',
    create: (layer, p) => new BatchedInfiniGen(layer, p),
    bytes: infinigenBytes,
    promptQueries: true,
    referenceOnlyWhen: {
      params: "query = 'speculated'",
      reason: "the engine's batched form is handed each step's own queries, not the previous layer's attention input to speculate from; query=exact runs on the GPU",
      applies: (p) => p.query === 'speculated',
    },
  },
});

/** Tokens InfiniGen fetches: per head #{s >= max_h(s) - alpha}, averaged over heads and truncated, at most `chosen`. logits: [H, m]. */
export async function thresholdCount(logits: tf.Tensor2D, alpha: number, chosen: number): Promise<number> {
  const counts = tf.tidy(() => tf.sum(tf.cast(tf.greaterEqual(logits, tf.sub(tf.max(logits, 1, true), alpha)), 'int32'), 1));
  const data = await counts.data();
  counts.dispose();
  let total = 0;
  for (const c of data) total += c;
  return Math.min(chosen, Math.floor(total / data.length));
}

function infinigenSelector(info: LayerInfo, params: InfiniGenParams): ScoringSelector {
  const { heads, headDim } = info;
  const channels = partialChannelCount(headDim, params.partialRatio);
  const kvOf = kvHeadOfQueryHead(heads, info.kvHeads);
  let memoKey = '';
  const store = new KVStore();
  const selectable = new SelectableKeys(store, info);
  let prefillLength = -1;
  /** [H, n, d] calibration vectors (prompt queries, or keys), held until the map is built */
  let calibration: tf.Tensor3D | null = null;
  /** [H, d, d] the partial query map (owned here unless the layer's memo holds it) */
  let map: { tensor: tf.Tensor3D; owned: boolean } | null = null;

  const queryMap = async (): Promise<tf.Tensor3D> => {
    if (map) return map.tensor;
    const memo = info.memo;
    if (memo?.has(memoKey)) {
      map = { tensor: memo.getOrCompute(memoKey, () => [])[0] as tf.Tensor3D, owned: false };
    } else {
      const built = (await partialQueryMap(calibration!, channels)).map;
      map = memo ? { tensor: memo.getOrCompute(memoKey, () => [built])[0] as tf.Tensor3D, owned: false } : { tensor: tf.keep(built), owned: true };
    }
    calibration?.dispose();
    calibration = null;
    return map.tensor;
  };

  const thresholdChooser: BudgetChooser = ({ logits }, chosen) => thresholdCount(logits, params.alpha, chosen);
  const topB: BudgetChooser = async (_scores, chosen) => chosen;

  const stepWithBudget = async (q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose: BudgetChooser): Promise<Selection> => {
    if (prefillLength < 0) throw new Error('infinigen: step() before prefill()');
    store.append(kNew, vNew);
    const { layout, forced, chosen } = planStep(store.length - 1, prefillLength, params);
    if (chosen === 0) return { tokens: withForced(forced, null, heads), selectedCount: 0, stats: { selectedTokens: 0 } };
    const map = await queryMap();
    const speculated = params.query === 'speculated' && info.speculatedQuery ? info.speculatedQuery() : undefined;
    const partial = partialQuery(speculated ?? q, map);
    speculated?.dispose();
    const scores = selectable.scores(partial, layout.sinkEnd, layout.openStart); // [H, m] = q'.k
    partial.dispose();
    try {
      const b = await chooseFromScores(choose, scores, 1 / Math.sqrt(headDim), chosen);
      const { chosen: top, ...counts } = topByScores(scores, b, layout.sinkEnd);
      const tokens = withForced(forced, top, heads);
      top?.dispose();
      return { tokens, ...counts, stats: { selectedTokens: counts.selectedCount } };
    } finally {
      scores.dispose();
    }
  };

  return {
    prefill(keys, values, queries) {
      if (queries && (queries.shape[0] !== heads || queries.shape[1] !== keys.shape[1] || queries.shape[2] !== headDim)) {
        throw new RangeError(`infinigen: prompt queries must be [H = ${heads}, P = ${keys.shape[1]}, d = ${headDim}], got [${queries.shape.join(', ')}]`);
      }
      store.append(keys, values);
      prefillLength = keys.shape[1];
      memoKey = `infinigen-partial-map:${queries ? 'queries' : `keys-from-${params.sinks}`}:k${channels}`;
      if (info.memo?.has(memoKey)) return;
      calibration = tf.keep(tf.tidy(() => (queries ? tf.clone(queries) : selectablePromptKeys(keys, params.sinks, kvOf))));
    },
    step: (q, kNew, vNew) => stepWithBudget(q, kNew, vNew, params.select === 'top-b' ? topB : thresholdChooser),
    stepWithBudget,
    dispose() {
      calibration?.dispose();
      if (map?.owned) map.tensor.dispose();
      calibration = map = null;
      selectable.dispose();
      store.dispose();
    },
  };
}
