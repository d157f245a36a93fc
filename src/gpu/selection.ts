/**
 * ClusterKV selection for one decode step, per query head (GQA: a query head ranks its KV head's centroids).
 *
 *   score_c = q . centroid_c            raw inner product: no softmax, no 1/sqrt(d)
 *   rank    = tf.topk over all K        a real sort (the reference CUDA ranking is not one; docs/DESIGN.md#ranking-and-the-budget-cut);
 *                                       rankClusters also offers an equivalent comparison count
 *   take clusters in rank order until `budget` tokens; the last one is cut so exactly
 *   n = min(budget, N) tokens are taken.
 * Output slot j of head h lies in the ranked cluster r whose cumulative size range holds j, found with
 * tf.searchSorted (no host round trip); its token is sortedTokens[g, offsets[g,c] + j - start_r].
 * Generic over the scoring dimension D: q [H, D] and centroids [G, K, D] (D = d for inner products).
 * selectClusters, selectTokens and rankedTokens are declared kernels (kernel-dispatch.ts): on webgpu, where
 * the device has subgroups, the threshold select (wgsl/select/select-threshold.ts: no sort; not for
 * rankedTokens, which is given its ranking), then the one-dispatch WGSL kernel (wgsl/select/select-clusters.ts),
 * same outputs, where each fits; else, or with setKernelPath('ops') or env CLUSTERKV_KERNELS=ops, the op chain.
 * Centroids may be packed f16 (half-tensor.ts): the threshold select reads the words, the older kernel and the
 * op chain the decoded float32 values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from './gather-rows.js';
import type { ClusterIndex } from './cluster-index.js';
import { kvDtype, kvShape, withFloat, type KvTensor } from './half-tensor.js';
import { kvHeadOfQueryHead, queryGroupSize } from './heads.js';
import { declareKernel } from './kernel-dispatch.js';
import { rankedTokensWgsl, selectClustersWgsl, selectFits, selectTokensWgsl } from './wgsl/select/select-clusters.js';
import { thresholdSelectClusters, thresholdSelectFits, thresholdSelectTokens } from './wgsl/select/select-threshold.js';

export interface ClusterSelection {
  /** [H, n] int32 selected token positions, n = min(budget, N), in rank order */
  tokens: tf.Tensor2D;
  /** [H, K] int32 cluster ids by descending score */
  ranked: tf.Tensor2D;
  /** [H, K] int32 tokens taken from each ranked cluster (its size, then the cut, then 0) */
  taken: tf.Tensor2D;
  /** [H, K] int32 size of each ranked cluster */
  rankedSizes: tf.Tensor2D;
}

/** Centroid scores [H, K]. q: [H, D]; centroids: [G, K, D]. */
export function scoreCentroids(q: tf.Tensor2D, centroids: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, K] = centroids.shape;
  const group = queryGroupSize(H, G);
  return tf.tidy(() => {
    const cT = tf.transpose(centroids, [0, 2, 1]); // [G, d, K]; wasm matMul is slow with transposeB
    return tf.reshape(tf.matMul(tf.reshape(q, [G, group, d]), cT), [H, K]) as tf.Tensor2D;
  });
}

/**
 * How clusters are ranked; both give the same order (descending score, ties to the lower id, tf.topk's rule).
 *   topk     tf.topk over all K (the default everywhere). On WebGPU a bitonic sort of ~45 dependent passes:
 *            0.35 ms at K = 400 on the H200, the stage furthest from the bandwidth limit (bench/README.md)
 *   compare  rank_c = #{j : s_j > s_c or (s_j = s_c and j < c)} from a [H, K, K] comparison, then a
 *            scatter of the ids to their ranks: a few wide kernels instead of many narrow passes. Tried as
 *            the WebGPU default and measured on the H200: 0.39 ms of kernels at K = 400 (no gain) and ~39 ms
 *            of wall time per call (tfjs's scatterND path on the host), so it stays an option.
 */
export type RankingMethod = 'topk' | 'compare';

export function defaultRanking(): RankingMethod {
  return 'topk';
}

/** Cluster ids by descending score, ties to the lower id: [H, K] int32. scores: [H, K]. */
export function rankClusters(scores: tf.Tensor2D, method: RankingMethod = defaultRanking()): tf.Tensor2D {
  const [H, K] = scores.shape;
  if (method === 'topk' || K <= 1) return tf.tidy(() => tf.topk(scores, K, true).indices as tf.Tensor2D);
  return tf.tidy(() => {
    const others = tf.expandDims(scores, 1); // [H, 1, K]: s_j
    const own = tf.expandDims(scores, 2); // [H, K, 1]: s_c
    const ids = tf.range(0, K, 1, 'int32');
    const lowerId = tf.greater(tf.expandDims(ids, 1), tf.expandDims(ids, 0)); // [K, K]: j < c
    const before = tf.logicalOr(tf.greater(others, own), tf.logicalAnd(tf.equal(others, own), lowerId)); // [H, K, K]
    const rank = tf.sum(tf.cast(before, 'int32'), 2); // [H, K]: rank of cluster c
    const head = tf.broadcastTo(tf.expandDims(tf.range(0, H, 1, 'int32'), 1), [H, K]);
    const at = tf.reshape(tf.stack([head, rank], 2), [H * K, 2]);
    const clusterIds = tf.reshape(tf.broadcastTo(tf.expandDims(ids, 0), [H, K]), [H * K]);
    return tf.scatterND(at, clusterIds, [H, K]) as tf.Tensor2D;
  });
}

/**
 * Token positions [H, n] (n = min(budget, N)) of the ranked clusters, whole clusters in rank order and the
 * last one cut. ranked: [H, K] int32 cluster ids; index: over the same K clusters, G KV heads.
 */
export function rankedTokens(ranked: tf.Tensor2D, index: ClusterIndex, budget: number): tf.Tensor2D {
  checkBudget(budget);
  return rankedTokensKernel.run(ranked, index, budget);
}

/** ranked [H, K] int32; index over K clusters; budget a checked non-negative integer -> tokens [H, n]. */
export const rankedTokensKernel = declareKernel<[ranked: tf.Tensor2D, index: ClusterIndex, budget: number], tf.Tensor2D>('ranked-tokens', [
  {
    name: 'wgsl',
    path: 'wgsl',
    fits: (ranked, index, budget) => ranked.shape[1] === index.clusters && Math.min(budget, index.tokens) > 0 && selectFits(ranked.shape[1]),
    run: (ranked, index, budget) => rankedTokensWgsl(ranked, index, Math.min(budget, index.tokens)),
  },
  { name: 'ops', path: 'ops', run: (ranked, index, budget) => tf.tidy(() => takeRanked(ranked, index, budget).tokens) },
]);

/**
 * q: [H, D]; centroids: [G, K, D] (float32 or packed f16); index over the same K clusters; budget: tokens to
 * take per head. The caller owns the returned tensors.
 */
export function selectClusters(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number): ClusterSelection {
  const [, K, D] = kvShape(centroids);
  if (K !== index.clusters) throw new RangeError(`centroids have K = ${K} clusters but the index has ${index.clusters}`);
  if (q.shape[1] !== D) throw new RangeError(`q has D = ${q.shape[1]} but the centroids D = ${D}`);
  checkBudget(budget);
  return selectClustersKernel.run(q, centroids, index, budget);
}

/** q [H, D]; centroids [G, K, D] (float32 or packed f16); index over the same K clusters; budget a non-negative integer (checked by the public functions). */
type SelectArgs = [q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number];

/** The threshold select takes K clusters of dimension D at the centroids' storage (subgroups on the device). */
const thresholdFits = (centroids: KvTensor) => thresholdSelectFits(kvShape(centroids)[1], kvShape(centroids)[2], kvDtype(centroids));

export const selectClustersKernel = declareKernel<SelectArgs, ClusterSelection>('select-clusters', [
  {
    name: 'wgsl-subgroup',
    path: 'wgsl',
    fits: (_q, centroids) => thresholdFits(centroids),
    run: (q, centroids, index, budget) => thresholdSelectClusters(q, centroids, index, Math.min(budget, index.tokens)),
  },
  {
    name: 'wgsl',
    path: 'wgsl',
    fits: (_q, centroids) => selectFits(kvShape(centroids)[1]),
    run: (q, centroids, index, budget) => withFloat(centroids, (c) => selectClustersWgsl(q, c, index, Math.min(budget, index.tokens))),
  },
  {
    name: 'ops',
    path: 'ops',
    run: (q, centroidsIn, index, budget) =>
      withFloat(centroidsIn, (centroids) => tf.tidy(() => {
        if (centroids.shape[1] === 0) {
          const none = tf.zeros([q.shape[0], 0], 'int32') as tf.Tensor2D;
          return { tokens: none, ranked: tf.clone(none), taken: tf.clone(none), rankedSizes: tf.clone(none) };
        }
        const ranked = rankClusters(scoreCentroids(q, centroids));
        return { ranked, ...takeRanked(ranked, index, budget) };
      })),
  },
]);

/**
 * Only the token positions [H, n] of selectClusters (what a decode step attends): one dispatch on webgpu.
 * q: [H, D]; centroids: [G, K, D] (float32 or packed f16); index over the same K clusters.
 */
export function selectTokens(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number): tf.Tensor2D {
  checkBudget(budget);
  return selectTokensKernel.run(q, centroids, index, budget);
}

/** The one-dispatch kernels take a token list of at least one token, a query of the centroids' D, an index over the same clusters. */
const tokensApply = (q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, budget: number) => kvShape(centroids)[1] === index.clusters && Math.min(budget, index.tokens) > 0 && q.shape[1] === kvShape(centroids)[2];

export const selectTokensKernel = declareKernel<SelectArgs, tf.Tensor2D>('select-tokens', [
  {
    name: 'wgsl-subgroup',
    path: 'wgsl',
    fits: (q, centroids, index, budget) => tokensApply(q, centroids, index, budget) && thresholdFits(centroids),
    run: (q, centroids, index, budget) => thresholdSelectTokens(q, centroids, index, Math.min(budget, index.tokens)),
  },
  {
    name: 'wgsl',
    path: 'wgsl',
    fits: (q, centroids, index, budget) => tokensApply(q, centroids, index, budget) && selectFits(kvShape(centroids)[1]),
    run: (q, centroids, index, budget) => withFloat(centroids, (c) => selectTokensWgsl(q, c, index, Math.min(budget, index.tokens))),
  },
  {
    // selectClusters (dispatched in turn: it checks the inputs) without the ranking outputs
    name: 'ops',
    path: 'ops',
    run: (q, centroids, index, budget) => {
      const sel = selectClusters(q, centroids, index, budget);
      tf.dispose([sel.ranked, sel.taken, sel.rankedSizes]);
      return sel.tokens;
    },
  },
]);

function checkBudget(budget: number): void {
  if (!Number.isInteger(budget) || budget < 0) throw new RangeError(`budget must be a non-negative integer, got ${budget}`);
}

/** The index stage: tokens [H, n], tokens taken per ranked cluster [H, K], ranked sizes [H, K]. */
function takeRanked(ranked: tf.Tensor2D, index: ClusterIndex, budget: number): Omit<ClusterSelection, 'ranked'> {
  checkBudget(budget);
  const [H, K] = ranked.shape;
  const G = index.sizes.shape[0];
  if (K !== index.clusters) throw new RangeError(`ranked has K = ${K} clusters but the index has ${index.clusters}`);
  const N = index.tokens;
  const n = Math.min(budget, N);
  return tf.tidy(() => {
    if (K === 0) {
      const none = tf.zeros([H, 0], 'int32') as tf.Tensor2D;
      return { tokens: none, taken: tf.clone(none), rankedSizes: tf.clone(none) };
    }
    const kvOf = tf.tensor1d(kvHeadOfQueryHead(H, G), 'int32');
    const sizesH = tf.gather(index.sizes, kvOf) as tf.Tensor2D; // [H, K]
    const rankedSizes = gatherRows(sizesH, ranked); // [H, K]
    const end = tf.cumsum(rankedSizes, 1); // [H, K] inclusive
    const start = tf.sub(end, rankedSizes) as tf.Tensor2D;
    const taken = tf.minimum(tf.maximum(tf.sub(tf.scalar(n, 'int32'), start), tf.scalar(0, 'int32')), rankedSizes) as tf.Tensor2D;
    if (n === 0) return { tokens: tf.zeros([H, 0], 'int32') as tf.Tensor2D, taken, rankedSizes };
    const slots = tf.broadcastTo(tf.range(0, n, 1, 'float32'), [H, n]);
    // rank holding slot j = number of clusters whose inclusive end is <= j (empty clusters are skipped)
    const rank = tf.cast(tf.searchSorted(tf.cast(end, 'float32'), slots, 'right'), 'int32') as tf.Tensor2D; // [H, n]
    const cluster = gatherRows(ranked, rank); // [H, n]
    const within = tf.sub(tf.cast(slots, 'int32'), gatherRows(start, rank));
    const offsetsH = tf.gather(index.offsets, kvOf) as tf.Tensor2D; // [H, K]
    const inHead = tf.add(gatherRows(offsetsH, cluster), within); // [H, n] index into sortedTokens[g]
    const flat = tf.add(inHead, tf.mul(tf.expandDims(kvOf, 1), tf.scalar(N, 'int32')));
    const tokens = tf.gather(tf.reshape(index.sortedTokens as tf.Tensor, [G * N]), flat) as unknown as tf.Tensor2D;
    return { tokens, taken, rankedSizes };
  });
}

export function disposeClusterSelection(sel: ClusterSelection): void {
  tf.dispose([sel.tokens, sel.ranked, sel.taken, sel.rankedSizes]);
}

/** Host-side view of a selection: per head, the clusters used (rank order), their sizes and tokens taken. */
export interface ClusterChoice {
  ids: Int32Array[];
  sizes: Int32Array[];
  taken: Int32Array[];
  /** mean over heads of clusters with at least one token taken */
  clustersTouched: number;
  /** mean over heads of the share of the last used cluster left out by the cut (0 when it fits exactly) */
  lastClusterCutShare: number;
}

/** Reads back ranked/taken (a device->host copy of [H, K] ints; diagnostics only). Sync: cpu and wasm only. */
export function readClusterChoice(sel: ClusterSelection): ClusterChoice {
  return clusterChoice(sel.ranked.shape, sel.ranked.dataSync() as Int32Array, sel.taken.dataSync() as Int32Array, sel.rankedSizes.dataSync() as Int32Array);
}

/** readClusterChoice for every backend (webgpu cannot read synchronously in Node). */
export async function readClusterChoiceAsync(sel: ClusterSelection): Promise<ClusterChoice> {
  const [ranked, taken, sizes] = await Promise.all([sel.ranked.data(), sel.taken.data(), sel.rankedSizes.data()]);
  return clusterChoice(sel.ranked.shape, ranked as Int32Array, taken as Int32Array, sizes as Int32Array);
}

/** ranked, taken, sizes: [H, K] row-major, as in ClusterSelection. */
function clusterChoice([H, K]: [number, number], ranked: Int32Array, taken: Int32Array, sizes: Int32Array): ClusterChoice {
  const out: ClusterChoice = { ids: [], sizes: [], taken: [], clustersTouched: 0, lastClusterCutShare: 0 };
  for (let h = 0; h < H; h++) {
    let used = 0;
    let last = -1;
    for (let r = 0; r < K; r++) {
      if (taken[h * K + r] > 0) {
        used++;
        last = r;
      }
    }
    // empty clusters ranked among used ones are skipped: collect the used ranks only
    const ids = new Int32Array(used);
    const sz = new Int32Array(used);
    const tk = new Int32Array(used);
    let i = 0;
    for (let r = 0; r <= last; r++) {
      const t = taken[h * K + r];
      if (t > 0) {
        ids[i] = ranked[h * K + r];
        sz[i] = sizes[h * K + r];
        tk[i] = t;
        i++;
      }
    }
    out.ids.push(ids);
    out.sizes.push(sz);
    out.taken.push(tk);
    out.clustersTouched += used / H;
    if (last >= 0) out.lastClusterCutShare += (sizes[h * K + last] - taken[h * K + last]) / sizes[h * K + last] / H;
  }
  return out;
}
