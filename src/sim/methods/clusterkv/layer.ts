/**
 * ClusterKV for one layer, the portable tfjs form, built from src/gpu's kernels (ranges and seeds: plan.ts):
 *   prefill  cluster the prompt tokens [sinkEnd, P) per KV head into C0 clusters (cosine K-means)
 *   step     append the new token; when the open window of `window` generated tokens is full, cluster it on
 *            its own into `windowClusters` clusters appended to the index (prompt clusters never change);
 *            rank clusters per query head (q . centroid, or Quest's bound over the cluster's box with
 *            scoring 'bound') and take them to the budget, the last one cut; the selection is sinks +
 *            selected + open window + current token.
 *
 * Storage: the KV is split at openStart into `closed` (prompt and closed windows, [G, openStart, d]) and
 * `open` (the open window and the current token), so a step appends to a short tensor only; a window moves
 * to `closed` when it closes. Sinks and selected positions all lie in `closed`.
 * Budget accounting (what is forced, how much is selectable) is src/sim/budget.ts's, as for every method.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendGathered, gatherPerHead } from '../../../gpu/attention.js';
import { boundQuery, clusterBoxes } from '../../../gpu/cluster-bounds.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex, emptyClusterIndex, type ClusterIndex } from '../../../gpu/cluster-index.js';
import { kvHeadOfQueryHead, queryGroupSize } from '../../../gpu/heads.js';
import { cosineKMeans } from '../../../gpu/kmeans.js';
import { gatherRows, takeRows } from '../../../gpu/gather-rows.js';
import { disposeClusterSelection, readClusterChoiceAsync, scoreCentroids, selectClusters, type ClusterChoice, type ClusterSelection } from '../../../gpu/selection.js';
import { decodeLayout, forcedPositions, selectableBudget } from '../../budget.js';
import { lastRSteps, lru, unionPerKvHead, type UnitCachePolicy } from '../../cache/index.js';
import type { BudgetChooser, LayerInfo, ScoringSelector, Selection, StepBudget } from '../../selector.js';
import { emptyBeyond, resolveBudget, trimClusterChoice } from '../head-budgets.js';
import { chooseFromScores } from '../baseline.js';
import type { ClusterKVParams } from './params.js';
import { clusteringSeed, positions, promptClustering, windowClustering } from './plan.js';

/** A step's choice before the host reads it: the ranked clusters and the closed-storage positions attended. */
interface Chosen {
  sel: ClusterSelection;
  /** [H, sinkEnd + selected] positions in `closed` */
  closedTokens: tf.Tensor2D;
  openStart: number;
  /** slots per head: the largest head's count */
  selectedCount: number;
  /** each head's count, where they differ (its slots past it empty) */
  perHead: Int32Array | null;
  indexClusters: number;
}

export class ClusterKVLayer implements ScoringSelector {
  readonly params: ClusterKVParams;
  readonly info: LayerInfo;
  private closedK: tf.Tensor3D | null = null;
  private closedV: tf.Tensor3D | null = null;
  private openK: tf.Tensor3D | null = null;
  private openV: tf.Tensor3D | null = null;
  /** [G, K, d] */
  private centroids: tf.Tensor3D | null = null;
  /** [G, K, 2d] min/max boxes of the clusters (scoring 'bound' only) */
  private boxes: tf.Tensor3D | null = null;
  private index: ClusterIndex | null = null;
  private prefillLength = -1;
  /** C0, the prompt's cluster count */
  private promptClusters = 0;
  private length = 0;
  private clusteredWindows = 0;
  private steps = 0;
  private readonly caches: UnitCachePolicy[];
  private readonly kvOf: Int32Array;

  /** params: resolved and checked by the registry (createMethod('clusterkv', ...)). */
  constructor(params: ClusterKVParams, info: LayerInfo) {
    queryGroupSize(info.heads, info.kvHeads);
    this.params = params;
    this.info = info;
    this.kvOf = kvHeadOfQueryHead(info.heads, info.kvHeads);
    this.caches = Array.from({ length: info.kvHeads }, () => (params.cacheCapacity > 0 ? lru(params.cacheCapacity) : lastRSteps(params.cacheSteps)));
  }

  /** clusters per KV head in the index now */
  get clusterCount(): number {
    return this.index?.clusters ?? 0;
  }

  /** The current centroids [G, K, d], boxes [G, K, 2d] (scoring 'bound', else null) and index (owned by this object; read only). */
  get state(): { centroids: tf.Tensor3D; boxes: tf.Tensor3D | null; index: ClusterIndex } {
    if (!this.centroids || !this.index) throw new Error('ClusterKVLayer: prefill() has not been called');
    return { centroids: this.centroids, boxes: this.boxes, index: this.index };
  }

  /** keys, values: [G, P, d] prompt keys (post-RoPE) and values; borrowed. */
  prefill(keys: tf.Tensor3D, values: tf.Tensor3D): void {
    if (this.prefillLength >= 0) throw new Error('ClusterKVLayer: prefill() called twice');
    const [G, P, d] = keys.shape;
    if (G !== this.info.kvHeads || d !== this.info.headDim) {
      throw new RangeError(`prefill keys must be [G = ${this.info.kvHeads}, P, d = ${this.info.headDim}], got [${keys.shape.join(', ')}]`);
    }
    const p = this.params;
    const { start, tokens: n, clusters: k } = promptClustering(p, P);
    this.promptClusters = k;
    this.closedK = tf.keep(tf.clone(keys));
    this.closedV = tf.keep(tf.clone(values));
    this.prefillLength = P;
    this.length = P;
    if (k === 0) {
      this.centroids = tf.keep(tf.zeros([G, 0, d]) as tf.Tensor3D);
      this.boxes = p.scoring === 'bound' ? tf.keep(tf.zeros([G, 0, 2 * d]) as tf.Tensor3D) : null;
      this.index = keepIndex(emptyClusterIndex(G));
      return;
    }
    const toCluster = tf.tidy(() => tf.slice(keys, [0, start, 0], [G, n, d]));
    const result = this.cluster(toCluster, k, clusteringSeed(p, this.info.layer), `prompt:${start}+${n}`);
    this.centroids = tf.keep(result.centroids);
    this.boxes = result.boxes ? tf.keep(result.boxes) : null;
    this.index = keepIndex(buildClusterIndex(result.labels, k, positions(start, n)));
    tf.dispose([toCluster, result.labels]);
  }

  /** One decode step (LayerSelector.step). q: [H, d]; kNew, vNew: [G, n, d]. */
  step(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): Promise<Selection> {
    return this.stepWithBudget(q, kNew, vNew, null);
  }

  /**
   * step() with the selectable budget picked by `choose` (ScoringSelector) from each token's estimated logit:
   * its cluster's score / sqrt(d): q . centroid (the centroid is its keys' raw mean, so about their mean q.k),
   * or with scoring 'bound' Quest's bound over the cluster's box, as quest-topp reads a page's.
   */
  async stepWithBudget(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose: BudgetChooser | null): Promise<Selection> {
    const chosen = await this.choose(q, kNew, vNew, choose);
    const { units, stats } = await this.finish(chosen);
    const tokens = tf.tidy(() => tf.concat([chosen.closedTokens, tf.broadcastTo(tf.range(chosen.openStart, this.length, 1, 'int32'), [this.info.heads, this.length - chosen.openStart])], 1) as tf.Tensor2D);
    chosen.closedTokens.dispose();
    return { tokens, selectedCount: chosen.selectedCount, ...(chosen.perHead && { selectedPerHead: chosen.perHead }), units, stats };
  }

  /** One decode step with its attention output [H, d]: step() + exact attention over the selection. */
  async decode(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): Promise<tf.Tensor2D> {
    const chosen = await this.choose(q, kNew, vNew, null);
    await this.finish(chosen);
    const out = tf.tidy(() => {
      const kvOf = tf.tensor1d(this.kvOf, 'int32');
      const k = tf.concat([gatherPerHead(this.closedK!, chosen.closedTokens), tf.gather(this.openK!, kvOf)], 1) as tf.Tensor3D;
      const v = tf.concat([gatherPerHead(this.closedV!, chosen.closedTokens), tf.gather(this.openV!, kvOf)], 1) as tf.Tensor3D;
      return attendGathered(q, k, v);
    });
    chosen.closedTokens.dispose();
    return out;
  }

  dispose(): void {
    tf.dispose([this.closedK, this.closedV, this.openK, this.openV, this.centroids, this.boxes].filter((t): t is tf.Tensor3D => t !== null));
    if (this.index) disposeClusterIndex(this.index);
    this.closedK = this.closedV = this.openK = this.openV = this.centroids = this.boxes = null;
    this.index = null;
  }

  /** Appends, closes full windows, ranks and cuts clusters (at the budget `choose` picks, when given). */
  private async choose(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose: BudgetChooser | null): Promise<Chosen> {
    if (this.prefillLength < 0) throw new Error('ClusterKVLayer: step() before prefill()');
    if (q.shape[0] !== this.info.heads || q.shape[1] !== this.info.headDim) {
      throw new RangeError(`q must be [H = ${this.info.heads}, d = ${this.info.headDim}], got [${q.shape.join(', ')}]`);
    }
    if (kNew.shape[1] < 1) throw new RangeError('kNew must hold at least the current token');
    this.append(kNew, vNew);
    const p = this.params;
    const layout = decodeLayout(this.length - 1, this.prefillLength, p.sinks, p.window);
    while (this.clusteredWindows < layout.closedWindows) this.closeWindow();
    const planned = selectableBudget(p.budget, p.budgetMode, layout);
    const { centroids, index } = this.state;
    if (index.tokens !== layout.openStart - layout.sinkEnd) {
      throw new Error(`ClusterKVLayer: index holds ${index.tokens} tokens, expected ${layout.openStart - layout.sinkEnd}`);
    }
    const mapped = this.boxes ? boundQuery(q) : q;
    let budget: StepBudget = planned;
    if (choose && planned > 0) {
      const scores = this.tokenScores(mapped);
      try {
        budget = await chooseFromScores(choose, scores, 1 / Math.sqrt(this.info.headDim), planned);
      } finally {
        scores.dispose();
      }
    }
    const { slots, perHead } = resolveBudget(budget);
    const sel = selectClusters(mapped, this.boxes ?? centroids, index, slots);
    if (mapped !== q) mapped.dispose();
    const sinks = forcedPositions(layout).subarray(0, layout.sinkEnd);
    const closedTokens = tf.tidy(() => tf.concat([tf.broadcastTo(tf.tensor1d(sinks, 'int32'), [this.info.heads, sinks.length]), perHead ? emptyBeyond(sel.tokens, perHead) : sel.tokens], 1) as tf.Tensor2D);
    return { sel, closedTokens, openStart: layout.openStart, selectedCount: slots, perHead, indexClusters: index.clusters };
  }

  /**
   * [H, N] each clustered token's cluster score (mapped: [H, D], the query as selectClusters scores it):
   * slot j of KV head g holds a token of the cluster whose [offset, offset + size) range contains j.
   */
  private tokenScores(mapped: tf.Tensor2D): tf.Tensor2D {
    const { centroids, index } = this.state;
    return tf.tidy(() => {
      const scores = scoreCentroids(mapped, this.boxes ?? centroids); // [H, K]
      const ends = tf.cast(tf.add(index.offsets, index.sizes), 'float32'); // [G, K], non-decreasing
      const slots = tf.tile(tf.expandDims(tf.range(0, index.tokens, 1, 'float32'), 0), [this.info.kvHeads, 1]);
      const clusterOfSlot = tf.cast(tf.searchSorted(ends, slots, 'right'), 'int32') as tf.Tensor2D; // [G, N]
      return gatherRows(scores, takeRows(clusterOfSlot, tf.tensor1d(this.kvOf, 'int32'))); // [H, N]
    });
  }

  /** Reads the choice back (diagnostics on), accounts the cache, disposes the ranking. */
  private async finish(chosen: Chosen): Promise<Pick<Selection, 'units' | 'stats'>> {
    try {
      if (!this.params.diagnostics) return {};
      const ranked = await readClusterChoiceAsync(chosen.sel);
      const choice = chosen.perHead ? trimClusterChoice(ranked, chosen.perHead) : ranked;
      return {
        units: { kind: 'cluster', ids: choice.ids, sizes: choice.sizes },
        stats: {
          clustersTouched: choice.clustersTouched,
          lastClusterCutShare: choice.lastClusterCutShare,
          promptClusters: this.promptClusters,
          indexClusters: chosen.indexClusters,
          ...this.cacheStats(choice),
        },
      };
    } finally {
      disposeClusterSelection(chosen.sel);
      this.steps++;
    }
  }

  /** Per KV head, the union of its query heads' clusters goes through that head's cache policy. */
  private cacheStats(choice: ClusterChoice): { cacheHitRate: number; bytesMovedHostToGpu: number } {
    const bytesPerToken = 2 * this.info.headDim * this.params.bytesPerValue; // K and V
    let hitBytes = 0;
    let moved = 0;
    unionPerKvHead(choice.ids, choice.sizes, this.info.kvHeads).forEach((req, g) => {
      const access = this.caches[g].access(this.steps, req.ids, Array.from(req.sizes, (s) => s * bytesPerToken));
      hitBytes += access.hitBytes;
      moved += access.bytesMoved;
    });
    return { cacheHitRate: hitBytes + moved > 0 ? hitBytes / (hitBytes + moved) : 1, bytesMovedHostToGpu: moved };
  }

  private append(kNew: tf.Tensor3D, vNew: tf.Tensor3D): void {
    const G = this.info.kvHeads;
    const d = this.info.headDim;
    if (kNew.shape[0] !== G || kNew.shape[2] !== d || vNew.shape[0] !== G || vNew.shape[1] !== kNew.shape[1] || vNew.shape[2] !== d) {
      throw new RangeError(`kNew and vNew must both be [G = ${G}, n, d = ${d}], got [${kNew.shape.join(', ')}] and [${vNew.shape.join(', ')}]`);
    }
    const oldK = this.openK;
    const oldV = this.openV;
    this.openK = tf.keep(oldK ? (tf.concat([oldK, kNew], 1) as tf.Tensor3D) : tf.clone(kNew));
    this.openV = tf.keep(oldV ? (tf.concat([oldV, vNew], 1) as tf.Tensor3D) : tf.clone(vNew));
    tf.dispose([oldK, oldV].filter((t): t is tf.Tensor3D => t !== null));
    this.length += kNew.shape[1];
  }

  /**
   * K-means of keys [G, n, d] into k clusters (and the clusters' boxes with scoring 'bound'); through the
   * layer's memo when the replay gives one, so selectors that differ only in budget cluster the same keys
   * once. The caller owns the result.
   */
  private cluster(keys: tf.Tensor3D, k: number, seed: number, range: string): { centroids: tf.Tensor3D; labels: tf.Tensor2D; boxes?: tf.Tensor3D } {
    const { iters, scoring } = this.params;
    const memo = this.info.memo;
    // one K-means per (range, k, iters, seed) whatever the scoring; the boxes are derived from its labels
    const key = `clusterkv-kmeans:${range}:k${k}:it${iters}:s${seed}`;
    const kmeans = (): tf.Tensor[] => {
      const r = cosineKMeans(keys, k, { iters, seed });
      return [r.centroids, r.labels];
    };
    const [centroids, labels] = memo ? memo.getOrCompute(key, kmeans).map((t) => tf.clone(t)) : kmeans();
    if (scoring !== 'bound') return { centroids: centroids as tf.Tensor3D, labels: labels as tf.Tensor2D };
    const boxes = memo
      ? tf.clone(memo.getOrCompute(`${key}:boxes`, () => [clusterBoxes(keys, labels as tf.Tensor2D, k)])[0])
      : clusterBoxes(keys, labels as tf.Tensor2D, k);
    return { centroids: centroids as tf.Tensor3D, labels: labels as tf.Tensor2D, boxes: boxes as tf.Tensor3D };
  }

  /** Moves the oldest full window from open to closed storage and clusters it into new clusters. */
  private closeWindow(): void {
    const p = this.params;
    const G = this.info.kvHeads;
    const d = this.info.headDim;
    const w = this.clusteredWindows;
    const windowStart = this.prefillLength + w * p.window;
    const openStart = this.closedK!.shape[1];
    if (openStart !== windowStart) throw new Error(`ClusterKVLayer: closed storage ends at ${openStart}, window ${w} starts at ${windowStart}`);
    const [winK, winV, restK, restV] = tf.tidy(() => [
      tf.slice(this.openK!, [0, 0, 0], [G, p.window, d]),
      tf.slice(this.openV!, [0, 0, 0], [G, p.window, d]),
      tf.slice(this.openK!, [0, p.window, 0], [G, -1, d]),
      tf.slice(this.openV!, [0, p.window, 0], [G, -1, d]),
    ]) as tf.Tensor3D[];
    const nextClosedK = tf.keep(tf.concat([this.closedK!, winK], 1) as tf.Tensor3D);
    const nextClosedV = tf.keep(tf.concat([this.closedV!, winV], 1) as tf.Tensor3D);
    tf.dispose([this.closedK!, this.closedV!, this.openK!, this.openV!, winV]);
    this.closedK = nextClosedK;
    this.closedV = nextClosedV;
    this.openK = tf.keep(restK);
    this.openV = tf.keep(restV);
    const { start, tokens: n, clusters: k } = windowClustering(p, this.prefillLength, w);
    if (n > 0) {
      const toCluster = tf.tidy(() => tf.slice(winK, [0, start - windowStart, 0], [G, n, d]));
      const result = this.cluster(toCluster, k, clusteringSeed(p, this.info.layer, w), `window:${start}+${n}`);
      const nextIndex = keepIndex(appendClusters(this.index!, result.labels, k, positions(start, n)));
      const nextCentroids = tf.keep(tf.concat([this.centroids!, result.centroids], 1) as tf.Tensor3D);
      const nextBoxes = result.boxes ? tf.keep(tf.concat([this.boxes!, result.boxes], 1) as tf.Tensor3D) : null;
      disposeClusterIndex(this.index!);
      const done: tf.Tensor[] = [this.centroids!, result.centroids, result.labels, toCluster];
      if (this.boxes) done.push(this.boxes);
      if (result.boxes) done.push(result.boxes);
      tf.dispose(done);
      this.index = nextIndex;
      this.centroids = nextCentroids;
      this.boxes = nextBoxes;
    }
    winK.dispose();
    this.clusteredWindows++;
  }
}

function keepIndex(index: ClusterIndex): ClusterIndex {
  tf.keep(index.sortedTokens);
  tf.keep(index.sizes);
  tf.keep(index.offsets);
  return index;
}
