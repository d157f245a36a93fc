/**
 * ClusterKV attention for one layer (DESIGN.md, "ClusterKV, as the paper and its reference code define it"):
 *   prefill  cluster the prompt tokens [sinkEnd, P) per KV head into C0 clusters (cosine K-means)
 *   decode   append the new token; when the open window of `window` generated tokens is full, cluster it on
 *            its own into `windowClusters` clusters appended to the index (prompt clusters never change);
 *            select clusters per query head to the budget; attend sinks + selected + open window + current.
 *
 * Storage: the KV is split at openStart into `closed` (prompt and closed windows, [G, openStart, d]) and
 * `open` (the open window and the current token), so a step appends to a short tensor only; a window
 * moves to `closed` when it closes. Sinks and selected positions all lie in `closed`.
 * Budget accounting (what is forced, how much is selectable) comes from src/sim/budget.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeLayout, forcedPositions, selectableBudget, validateBudget, type BudgetMode } from '../budget.js';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { attendGathered, gatherPerHead } from '../../gpu/attention.js';
import { lastRSteps, lru, type UnitCachePolicy } from '../cache/index.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex, emptyClusterIndex, type ClusterIndex } from '../../gpu/cluster-index.js';
import { kvHeadOfQueryHead, queryGroupSize } from '../../gpu/heads.js';
import { cosineKMeans } from '../../gpu/kmeans.js';
import { disposeClusterSelection, readClusterChoice, readClusterChoiceAsync, selectClusters, type ClusterChoice, type ClusterSelection } from '../../gpu/selection.js';

export interface ClusterKVAttentionParams {
  /** token budget B */
  budget: number;
  /** 'selected': B counts selected tokens only; 'including-sinks': B includes the sinks */
  budgetMode: BudgetMode;
  /** first tokens never clustered, always attended */
  sinks: number;
  /** prompt clusters C0 = ceil(L / tokensPerCluster), L = prompt tokens after the sinks (when clusters is 0) */
  tokensPerCluster: number;
  /** fixed prompt cluster count C0; 0: derive from tokensPerCluster */
  clusters: number;
  /** K-means iterations */
  iters: number;
  /** K-means seed (per layer and per window a seed is derived from it) */
  seed: number;
  /** generated tokens per decode window m */
  window: number;
  /** clusters per closed window C+ */
  windowClusters: number;
  /** cache keeps the clusters selected in the last R steps */
  cacheSteps: number;
  /** 0: unbounded (last R steps); > 0: LRU over this many clusters per KV head */
  cacheCapacity: number;
  /** bytes per stored K or V element, for bytes moved (2: fp16 as on a GPU) */
  bytesPerValue: number;
  /** read back per-step cluster choices for Selection.units and stats (off: no device->host copy) */
  diagnostics: boolean;
}

export const CLUSTERKV_ATTENTION_DEFAULTS: Omit<ClusterKVAttentionParams, 'budget'> = {
  budgetMode: 'selected',
  sinks: 16,
  tokensPerCluster: 80,
  clusters: 0,
  iters: 20,
  seed: 0,
  window: 320,
  windowClusters: 4,
  cacheSteps: 1,
  cacheCapacity: 0,
  bytesPerValue: 2,
  diagnostics: true,
};

function requireInt(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`clusterkv: parameter '${name}' must be an integer >= ${min}, got ${String(value)}`);
  }
}

/** Checks every parameter; errors name it. */
export function validateClusterKVParams(p: ClusterKVAttentionParams): void {
  requireInt('budget', p.budget, 1);
  requireInt('sinks', p.sinks, 0);
  requireInt('tokensPerCluster', p.tokensPerCluster, 1);
  requireInt('clusters', p.clusters, 0);
  requireInt('iters', p.iters, 0);
  requireInt('seed', p.seed, 0);
  requireInt('window', p.window, 1);
  requireInt('windowClusters', p.windowClusters, 1);
  requireInt('cacheSteps', p.cacheSteps, 1);
  requireInt('cacheCapacity', p.cacheCapacity, 0);
  if (typeof p.bytesPerValue !== 'number' || !(p.bytesPerValue > 0)) throw new RangeError(`clusterkv: parameter 'bytesPerValue' must be > 0, got ${String(p.bytesPerValue)}`);
  if (typeof p.diagnostics !== 'boolean') throw new RangeError(`clusterkv: parameter 'diagnostics' must be true or false, got ${String(p.diagnostics)}`);
  if (p.windowClusters > p.window) throw new RangeError(`clusterkv: parameter 'windowClusters' (${p.windowClusters}) exceeds 'window' (${p.window}): more clusters than tokens in a window`);
  try {
    validateBudget(p.budget, p.budgetMode, p.sinks);
  } catch (err) {
    throw new RangeError(`clusterkv: ${(err as Error).message}`);
  }
}

/** A seed per (layer, part): part 0 is the prompt, part w+1 the w-th decode window. */
export function deriveSeed(seed: number, layer: number, part: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(layer + 1, 0xc2b2ae35) ^ Math.imul(part + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

export class ClusterKVAttention implements LayerSelector {
  readonly params: ClusterKVAttentionParams;
  readonly info: LayerInfo;
  private closedK: tf.Tensor3D | null = null;
  private closedV: tf.Tensor3D | null = null;
  private openK: tf.Tensor3D | null = null;
  private openV: tf.Tensor3D | null = null;
  private centroids: tf.Tensor3D | null = null;
  private index: ClusterIndex | null = null;
  private prefillLength = -1;
  /** C0, the prompt's cluster count */
  private promptClusters = 0;
  private length = 0;
  private clusteredWindows = 0;
  private steps = 0;
  private readonly caches: UnitCachePolicy[];
  private readonly kvOf: Int32Array;

  constructor(params: Partial<ClusterKVAttentionParams> & { budget: number }, info: LayerInfo) {
    this.params = { ...CLUSTERKV_ATTENTION_DEFAULTS, ...params };
    validateClusterKVParams(this.params);
    queryGroupSize(info.heads, info.kvHeads);
    this.info = info;
    this.kvOf = kvHeadOfQueryHead(info.heads, info.kvHeads);
    const p = this.params;
    this.caches = Array.from({ length: info.kvHeads }, () => (p.cacheCapacity > 0 ? lru(p.cacheCapacity) : lastRSteps(p.cacheSteps)));
  }

  /** clusters per KV head in the index now */
  get clusterCount(): number {
    return this.index?.clusters ?? 0;
  }

  /** The current centroids [G, K, d] and index (owned by this object; read only). */
  get state(): { centroids: tf.Tensor3D; index: ClusterIndex } {
    if (!this.centroids || !this.index) throw new Error('ClusterKVAttention: prefill() has not been called');
    return { centroids: this.centroids, index: this.index };
  }

  /** keys, values: [G, P, d] prompt keys (post-RoPE) and values; borrowed. */
  prefill(keys: tf.Tensor3D, values: tf.Tensor3D): void {
    if (this.prefillLength >= 0) throw new Error('ClusterKVAttention: prefill() called twice');
    const [G, P, d] = keys.shape;
    if (G !== this.info.kvHeads || d !== this.info.headDim) {
      throw new RangeError(`prefill keys must be [G = ${this.info.kvHeads}, P, d = ${this.info.headDim}], got [${keys.shape.join(', ')}]`);
    }
    const p = this.params;
    const start = Math.min(p.sinks, P);
    const n = P - start;
    let k = p.clusters > 0 ? p.clusters : Math.ceil(n / p.tokensPerCluster);
    // a prompt inside the sinks has nothing to cluster (decode windows still are); otherwise C0 must fit
    if (p.clusters > 0 && n > 0 && p.clusters > n) {
      throw new RangeError(`clusterkv: parameter 'clusters' (${p.clusters}) is more than the ${n} prompt tokens to cluster (prompt ${P} minus ${start} sinks)`);
    }
    if (n === 0) k = 0;
    this.promptClusters = k;
    this.closedK = tf.keep(tf.clone(keys));
    this.closedV = tf.keep(tf.clone(values));
    this.prefillLength = P;
    this.length = P;
    if (k === 0) {
      this.centroids = tf.keep(tf.zeros([G, 0, d]) as tf.Tensor3D);
      this.index = keepIndex(emptyClusterIndex(G));
      return;
    }
    const toCluster = tf.tidy(() => tf.slice(keys, [0, start, 0], [G, n, d]));
    const result = this.cluster(toCluster, k, deriveSeed(p.seed, this.info.layer, 0), `prompt:${start}+${n}`);
    this.centroids = tf.keep(result.centroids);
    this.index = keepIndex(buildClusterIndex(result.labels, k, positions(start, n)));
    tf.dispose([toCluster, result.labels]);
  }

  /** One decode step (see LayerSelector.step). q: [H, d]; kNew, vNew: [G, n, d]. */
  step(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): Selection {
    return this.selection(this.finish(this.choose(q, kNew, vNew), (sel) => readClusterChoice(sel)));
  }

  /** step() for every backend: diagnostics read back asynchronously (webgpu cannot read synchronously in Node). */
  async stepAsync(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): Promise<Selection> {
    const chosen = this.choose(q, kNew, vNew);
    const choice = this.params.diagnostics ? await readClusterChoiceAsync(chosen.sel) : undefined;
    return this.selection(this.finish(chosen, () => choice!));
  }

  private selection(chosen: ReturnType<ClusterKVAttention['finish']>): Selection {
    const tokens = tf.tidy(() => tf.concat([chosen.closedTokens, tf.broadcastTo(tf.range(chosen.openStart, this.length, 1, 'int32'), [this.info.heads, this.length - chosen.openStart])], 1) as tf.Tensor2D);
    chosen.closedTokens.dispose();
    return { tokens, selectedCount: chosen.selectedCount, units: chosen.units, stats: chosen.stats };
  }

  /** One decode step with its attention output [H, d]: step() + exact attention over the selection. */
  decode(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): tf.Tensor2D {
    const chosen = this.finish(this.choose(q, kNew, vNew), (sel) => readClusterChoice(sel));
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
    tf.dispose([this.closedK, this.closedV, this.openK, this.openV, this.centroids].filter((t): t is tf.Tensor3D => t !== null));
    if (this.index) disposeClusterIndex(this.index);
    this.closedK = this.closedV = this.openK = this.openV = this.centroids = null;
    this.index = null;
  }

  /** Appends, closes full windows, selects. closedTokens: [H, sinkEnd + selected] positions in `closed`. */
  private choose(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D) {
    if (this.prefillLength < 0) throw new Error('ClusterKVAttention: step() before prefill()');
    if (q.shape[0] !== this.info.heads || q.shape[1] !== this.info.headDim) {
      throw new RangeError(`q must be [H = ${this.info.heads}, d = ${this.info.headDim}], got [${q.shape.join(', ')}]`);
    }
    if (kNew.shape[1] < 1) throw new RangeError('kNew must hold at least the current token');
    this.append(kNew, vNew);
    const p = this.params;
    const layout = decodeLayout(this.length - 1, this.prefillLength, p.sinks, p.window);
    while (this.clusteredWindows < layout.closedWindows) this.closeWindow();
    const nSel = selectableBudget(p.budget, p.budgetMode, layout);
    const { centroids, index } = this.state;
    if (index.tokens !== layout.openStart - layout.sinkEnd) {
      throw new Error(`ClusterKVAttention: index holds ${index.tokens} tokens, expected ${layout.openStart - layout.sinkEnd}`);
    }
    const sel = selectClusters(q, centroids, index, nSel);
    const sinks = forcedPositions(layout).subarray(0, layout.sinkEnd);
    const closedTokens = tf.tidy(() => tf.concat([tf.broadcastTo(tf.tensor1d(sinks, 'int32'), [this.info.heads, sinks.length]), sel.tokens], 1) as tf.Tensor2D);
    return { sel, closedTokens, openStart: layout.openStart, selectedCount: nSel, indexClusters: index.clusters };
  }

  /** Diagnostics and cache accounting of a chosen step (reading the choice back only when diagnostics are on). */
  private finish(chosen: ReturnType<ClusterKVAttention['choose']>, read: (sel: ClusterSelection) => ClusterChoice) {
    const { sel, ...rest } = chosen;
    let units: Selection['units'];
    let stats: Record<string, number> | undefined;
    if (this.params.diagnostics) {
      const choice = read(sel);
      units = { kind: 'cluster', ids: choice.ids, sizes: choice.sizes };
      stats = { clustersTouched: choice.clustersTouched, lastClusterCutShare: choice.lastClusterCutShare, promptClusters: this.promptClusters, indexClusters: rest.indexClusters, ...this.cacheStats(choice.ids, choice.sizes) };
    }
    disposeClusterSelection(sel);
    this.steps++;
    return { ...rest, units, stats };
  }

  /** Per KV head, the union of its query heads' clusters goes through that head's cache policy. */
  private cacheStats(ids: Int32Array[], sizes: Int32Array[]): { cacheHitRate: number; bytesMovedHostToGpu: number } {
    const bytesPerToken = 2 * this.info.headDim * this.params.bytesPerValue; // K and V
    let hitBytes = 0;
    let moved = 0;
    for (let g = 0; g < this.info.kvHeads; g++) {
      const size = new Map<number, number>();
      for (let h = 0; h < this.info.heads; h++) {
        if (this.kvOf[h] !== g) continue;
        for (let i = 0; i < ids[h].length; i++) size.set(ids[h][i], sizes[h][i]);
      }
      const unitIds = Int32Array.from(size.keys());
      const access = this.caches[g].access(this.steps, unitIds, Array.from(size.values(), (s) => s * bytesPerToken));
      hitBytes += access.hitBytes;
      moved += access.bytesMoved;
    }
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

  /** Moves the oldest full window from open to closed storage and clusters it into new clusters. */
  /**
   * K-means of keys [G, n, d] into k clusters; through the layer's memo when the replay gives one, so
   * selectors that differ only in budget cluster the same keys once. The caller owns the result.
   */
  private cluster(keys: tf.Tensor3D, k: number, seed: number, range: string): { centroids: tf.Tensor3D; labels: tf.Tensor2D } {
    const iters = this.params.iters;
    const memo = this.info.memo;
    if (!memo) return cosineKMeans(keys, k, { iters, seed });
    const [centroids, labels] = memo.getOrCompute(`clusterkv-kmeans:${range}:k${k}:it${iters}:s${seed}`, () => {
      const r = cosineKMeans(keys, k, { iters, seed });
      return [r.centroids, r.labels];
    });
    return { centroids: tf.clone(centroids) as tf.Tensor3D, labels: tf.clone(labels) as tf.Tensor2D };
  }

  private closeWindow(): void {
    const p = this.params;
    const G = this.info.kvHeads;
    const d = this.info.headDim;
    const w = this.clusteredWindows;
    const windowStart = this.prefillLength + w * p.window;
    const openStart = this.closedK!.shape[1];
    if (openStart !== windowStart) throw new Error(`ClusterKVAttention: closed storage ends at ${openStart}, window ${w} starts at ${windowStart}`);
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
    // positions below the sinks (a prompt shorter than the sinks) stay sinks, never clustered
    const skip = Math.max(0, p.sinks - windowStart);
    const n = p.window - skip;
    if (n > 0) {
      const k = Math.min(p.windowClusters, n);
      const toCluster = tf.tidy(() => tf.slice(winK, [0, skip, 0], [G, n, d]));
      const result = this.cluster(toCluster, k, deriveSeed(p.seed, this.info.layer, w + 1), `window:${windowStart + skip}+${n}`);
      const nextIndex = keepIndex(appendClusters(this.index!, result.labels, k, positions(windowStart + skip, n)));
      const nextCentroids = tf.keep(tf.concat([this.centroids!, result.centroids], 1) as tf.Tensor3D);
      disposeClusterIndex(this.index!);
      tf.dispose([this.centroids!, result.centroids, result.labels, toCluster]);
      this.index = nextIndex;
      this.centroids = nextCentroids;
    }
    winK.dispose();
    this.clusteredWindows++;
  }
}

function positions(start: number, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i;
  return out;
}

function keepIndex(index: ClusterIndex): ClusterIndex {
  tf.keep(index.sortedTokens);
  tf.keep(index.sizes);
  tf.keep(index.offsets);
  return index;
}
