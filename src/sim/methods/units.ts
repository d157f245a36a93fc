/**
 * Selection by contiguous units (Quest pages, InfLLM blocks): the selectable range [sinkEnd, openStart) is cut
 * into units of `unitSize` tokens from sinkEnd (the last may be shorter); each unit has a summary vector per
 * KV head, a query is mapped to the same space, and units are ranked by the inner product and taken in order
 * until the budget, the last one cut (src/gpu/selection.ts, the same ranking ClusterKV uses).
 * Summaries are rebuilt only when the selectable range grows (a decode window closes).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mapQuery, type QueryMap } from '../../gpu/cluster-bounds.js';
import type { ClusterIndex } from '../../gpu/cluster-index.js';
import { disposeClusterIndex } from '../../gpu/cluster-index.js';
import { disposeClusterSelection, readClusterChoiceAsync, scoreCentroids, selectClusters, type ClusterChoice, type ClusterSelection } from '../../gpu/selection.js';
import { KVStore } from '../kv-store.js';
import type { BudgetChooser, LayerInfo, LayerSelector, ScoringSelector, Selection, SelectedUnits } from '../selector.js';
import { chooseFromScores, planStep, withForced, type ForcedSetParams } from './baseline.js';
import { emptyBeyond, resolveBudget, trimClusterChoice } from './head-budgets.js';

export interface UnitScheme {
  kind: SelectedUnits['kind'];
  unitSize: number;
  /**
   * Summary vectors [G, U, D] of the units tiling `keys` [G, m, d] (m tokens in order, units of unitSize,
   * the last possibly shorter).
   */
  summarise(keys: tf.Tensor3D): tf.Tensor3D;
  /** how the query [H, d] is mapped to the summary space [H, D] before the inner product */
  query: QueryMap;
  /**
   * times a unit's score (mapped query . summary) is the method's estimate of the logit q.k / sqrt(d) of each
   * of its tokens; given, the selector is a ScoringSelector (its budget can be chosen from its scores)
   */
  logitScale?: number;
}

/** An index of contiguous units over positions start..end-1 (same for every KV head). */
export function contiguousUnitIndex(kvHeads: number, start: number, end: number, unitSize: number): ClusterIndex {
  const n = end - start;
  const units = Math.ceil(n / unitSize);
  const sizes = new Int32Array(units);
  const offsets = new Int32Array(units);
  for (let u = 0; u < units; u++) {
    offsets[u] = u * unitSize;
    sizes[u] = Math.min(unitSize, n - u * unitSize);
  }
  const tile = (a: Int32Array, cols: number) => tf.tile(tf.tensor2d(a, [1, cols], 'int32'), [kvHeads, 1]) as tf.Tensor2D;
  return tf.tidy(() => ({
    sortedTokens: tile(Int32Array.from({ length: n }, (_, i) => start + i), n),
    sizes: tile(sizes, units),
    offsets: tile(offsets, units),
    clusters: units,
    tokens: n,
  }));
}

interface UnitState {
  openStart: number;
  summaries: tf.Tensor3D;
  index: ClusterIndex;
}

export function unitSelector(info: LayerInfo, params: ForcedSetParams, scheme: UnitScheme): LayerSelector | ScoringSelector {
  const store = new KVStore();
  let prefillLength = 0;
  let state: UnitState | null = null;
  const release = () => {
    if (!state) return;
    state.summaries.dispose();
    disposeClusterIndex(state.index);
    state = null;
  };
  /** A step's ranked units, before the host reads which were taken. */
  interface Ranked {
    sel: ClusterSelection;
    forced: ReturnType<typeof planStep>['forced'];
    /** slots per head: the largest head's count */
    chosen: number;
    /** each head's count, where they differ (its slots past it empty) */
    perHead: Int32Array | null;
  }
  /**
   * Appends the step's K/V, rebuilds summaries when the selectable range grew, ranks the units; the whole
   * selection instead when no unit is chosen.
   */
  const plan = async (q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose?: BudgetChooser): Promise<Ranked | { done: Selection }> => {
    store.append(kNew, vNew);
    const { layout, forced, chosen: planned } = planStep(store.length - 1, prefillLength, params);
    const none = (): { done: Selection } => ({ done: { tokens: withForced(forced, null, info.heads), selectedCount: 0 } });
    if (planned === 0) return none();
    if (!state || state.openStart !== layout.openStart) {
      release();
      const { sinkEnd, openStart } = layout;
      const summaries = tf.tidy(() => scheme.summarise(tf.slice(store.keys, [0, sinkEnd, 0], [-1, openStart - sinkEnd, -1])));
      const index = contiguousUnitIndex(info.kvHeads, sinkEnd, openStart, scheme.unitSize);
      // kept: a caller may run steps inside its own tidy
      for (const t of [summaries, index.sortedTokens, index.sizes, index.offsets]) tf.keep(t);
      state = { openStart, summaries, index };
    }
    const mapped = mapQuery(q, scheme.query);
    const scores = choose ? tokenScores(mapped, state) : null;
    try {
      const { slots, perHead } = resolveBudget(choose ? await chooseFromScores(choose, scores!, scheme.logitScale!, planned) : planned);
      if (slots === 0) return none();
      return { sel: selectClusters(mapped, state.summaries, state.index, slots), forced, chosen: slots, perHead };
    } finally {
      mapped.dispose();
      scores?.dispose();
    }
  };
  /** [H, m] each selectable token's unit score (units are contiguous from sinkEnd). mapped: [H, D]. */
  const tokenScores = (mapped: tf.Tensor2D, { index, summaries }: UnitState): tf.Tensor2D =>
    tf.tidy(() => tf.gather(scoreCentroids(mapped, summaries), tf.tensor1d(Int32Array.from({ length: index.tokens }, (_, i) => Math.floor(i / scheme.unitSize)), 'int32'), 1) as tf.Tensor2D);
  /** The selection from the ranked units' host-side choice; disposes the ranking. */
  const finish = ({ sel, forced, chosen, perHead }: Ranked, ranked: ClusterChoice): Selection => {
    try {
      const choice = perHead ? trimClusterChoice(ranked, perHead) : ranked;
      const units: SelectedUnits = { kind: scheme.kind, ids: choice.ids, sizes: choice.sizes };
      const cut = perHead ? emptyBeyond(sel.tokens, perHead) : sel.tokens;
      const tokens = withForced(forced, cut, info.heads);
      if (cut !== sel.tokens) cut.dispose();
      return { tokens, selectedCount: chosen, ...(perHead && { selectedPerHead: perHead }), units, stats: { clustersTouched: choice.clustersTouched } };
    } finally {
      disposeClusterSelection(sel);
    }
  };
  const step = async (q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose?: BudgetChooser): Promise<Selection> => {
    const planned = await plan(q, kNew, vNew, choose);
    return 'done' in planned ? planned.done : finish(planned, await readClusterChoiceAsync(planned.sel));
  };
  const selector: LayerSelector = {
    prefill(keys, values) {
      store.append(keys, values);
      prefillLength = keys.shape[1];
    },
    step: (q, kNew, vNew) => step(q, kNew, vNew),
    dispose() {
      release();
      store.dispose();
    },
  };
  return scheme.logitScale === undefined ? selector : { ...selector, stepWithBudget: step };
}

/**
 * Reduces each unit of `keys` [G, m, d] (units of unitSize, the last possibly shorter) with `reduce`,
 * which maps [G, U, s, d] to [G, U, D]; returns [G, ceil(m / unitSize), D].
 */
export function reduceUnits(keys: tf.Tensor3D, unitSize: number, reduce: (units: tf.Tensor4D) => tf.Tensor3D): tf.Tensor3D {
  const [G, m, d] = keys.shape;
  const full = Math.floor(m / unitSize);
  const rest = m - full * unitSize;
  return tf.tidy(() => {
    const parts: tf.Tensor3D[] = [];
    if (full > 0) parts.push(reduce(tf.reshape(tf.slice(keys, [0, 0, 0], [-1, full * unitSize, -1]), [G, full, unitSize, d]) as tf.Tensor4D));
    if (rest > 0) parts.push(reduce(tf.reshape(tf.slice(keys, [0, full * unitSize, 0], [-1, rest, -1]), [G, 1, rest, d]) as tf.Tensor4D));
    return parts.length === 1 ? parts[0] : (tf.concat(parts, 1) as tf.Tensor3D);
  });
}
