/**
 * ClusterKV's batched form (src/sim/batched-selector.ts), the state the WebGPU decode engine
 * (src/model/engine/decode-engine.ts) keeps per sparse layer for B sequences decoded together, as a model
 * session keeps a ClusterKVLayer (layer.ts) per layer; same plan (plan.ts: ranges and seeds):
 *   prefill   K-means of the prompt's keys [B G, L, d] (positions [sinks, P)) into C0 clusters
 *   step      closes the decode windows that are full (each clustered on its own into windowClusters
 *             clusters appended to the index; prompt clusters never change) and plans the step: the
 *             selection dispatches (batched-ranking.ts: centroid scores q . c, or with scoring 'bound'
 *             Quest's bound over each cluster's min/max box) and the length of the list attended
 * Every sequence starts K-means from the keys ClusterKVLayer would pick for it alone, so the clusters of
 * sequence b are the ones ClusterKVLayer builds from that sequence's keys, and so are their boxes.
 * `version` changes whenever the clusters do. The webgpu backend only (the engine's buffers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { clusterBoxes, clusterBoxesScratchBytes } from '../../../gpu/cluster-bounds.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex, type ClusterIndex } from '../../../gpu/cluster-index.js';
import { cosineKMeans, initialIndices } from '../../../gpu/kmeans.js';
import { kmeansScratchBytes } from '../../../gpu/wgsl/kmeans/kmeans-passes.js';
import { batchedLayout, batchedPlan, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes, OP_CHAIN_SLACK } from '../../batched-selector.js';
import { BatchedRanking, BOUND_QUERY_SCRATCH, boundQueryBytes } from '../batched-ranking.js';
import type { ClusterKVParams } from './params.js';
import { clusterCount, clusteringSeed, mostClusters, positions, promptClustering, windowClustering } from './plan.js';

/**
 * Cosine K-means of keys [B G, n, d] (B sequences of G KV heads) into k clusters; each sequence starts from
 * the keys initialIndices(G, n, k, seed) picks, as a single sequence would. Returns centroids [B G, k, d] and
 * labels [B G, n].
 */
export function clusterBatch(keys: tf.Tensor3D, batch: number, k: number, iters: number, seed: number): { centroids: tf.Tensor3D; labels: tf.Tensor2D } {
  const [BG, n, d] = keys.shape;
  const G = BG / batch;
  const picks = initialIndices(G, n, k, seed);
  const flat = new Int32Array(BG * k);
  for (let b = 0; b < batch; b++) for (let g = 0; g < G; g++) for (let j = 0; j < k; j++) flat[(b * G + g) * k + j] = (b * G + g) * n + picks[g][j];
  const init = tf.tidy(() => tf.reshape(tf.gather(tf.reshape(keys, [BG * n, d]), tf.tensor1d(flat, 'int32')), [BG, k, d]) as tf.Tensor3D);
  const result = cosineKMeans(keys, k, { iters, seed, init });
  init.dispose();
  return result;
}

/** The clusters of a layer: centroids [B G, K, d], boxes [B G, K, 2d] (scoring 'bound'), the index. */
export interface BatchedClusters {
  centroids: tf.Tensor3D;
  boxes: tf.Tensor3D | null;
  index: ClusterIndex;
}

/**
 * GPU bytes of ClusterKV's batched selection over any prompt the capacity allows (plan.ts mostClusters: K
 * clusters, n positions clustered): per layer the centroids [B G, K, d] f32 (and boxes [B G, K, 2d] with
 * scoring 'bound') and the index (positions [B G, n], sizes and offsets [B G, K], i32); for a moment, a
 * clustering of all n into the prompt's C0: the key rows [B G, n, d] f32, labels, the initial centroids and
 * K-means' pooled scratch (kmeans-passes.ts), the index's sort (a few [B G, n] rows) and the boxes' operands.
 * A closing window replaces the whole state (rebuilt: the centroids and index grow).
 */
export function clusterkvBytes(shape: BatchedShape, params: ClusterKVParams): SelectionBytes {
  const { clusters: K, clustered } = mostClusters(params, shape.capacity, shape.prompt);
  // the index holds every selectable position; the prompt's clustering reads `clustered` of them at once
  const n = Math.max(0, shape.capacity - params.sinks);
  const BG = shape.batch * shape.kvHeads;
  const d = shape.headDim;
  const bound = params.scoring === 'bound';
  const layer = 4 * BG * (K * d * (bound ? 3 : 1) + n + 2 * K);
  const c = clustered;
  const k = Math.min(c, clusterCount(params, c));
  const clustering = 4 * BG * c * d + 4 * BG * (6 * c + 2 * k * d) + kmeansScratchBytes(BG, c, k, d) + (bound ? clusterBoxesScratchBytes(BG, c, k, d) : 0);
  return { layer, scratch: bound ? { [BOUND_QUERY_SCRATCH]: boundQueryBytes(shape) } : {}, rebuilt: layer, transient: clustering + OP_CHAIN_SLACK };
}

export class BatchedClusterKV implements BatchedSelector {
  /** bumped whenever the clusters change (the select dispatch is bound again with them) */
  version = 0;
  private held: BatchedClusters | null = null;
  private readonly ranking: BatchedRanking;
  private prefillLength = -1;
  private clusteredWindows = 0;

  /** params: a configured method's (plan.ts's clusterkvParams); layer: what the engine lends. */
  constructor(
    readonly params: ClusterKVParams,
    private readonly layer: BatchedLayer,
  ) {
    this.ranking = new BatchedRanking(layer, params.scoring === 'bound' ? 'bound' : 'identity', 'clusterkv');
  }

  /** clusters per KV head in the index */
  get clusters(): number {
    return this.held?.index.clusters ?? 0;
  }

  /** positions per KV head in the index */
  get indexed(): number {
    return this.held?.index.tokens ?? 0;
  }

  /** The clusters (owned by this object; read only); null before the first clusters. */
  get state(): BatchedClusters | null {
    return this.held;
  }

  /** Clusters the prompt, positions 0..P-1 of the key rows. Once, before the first step. */
  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, 'clusterkv');
    const { start, tokens, clusters } = promptClustering(this.params, prompt);
    this.prefillLength = prompt;
    if (clusters > 0) this.add(start, tokens, clusters, clusteringSeed(this.params, this.layer.layer));
  }

  /** The step whose token sits at `position` under `budget`: closes the windows full by then (ClusterKVLayer's rule) and plans it. */
  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'clusterkv'), this.params, budget);
    while (this.clusteredWindows < layout.closedWindows) this.closeWindow();
    if (this.indexed !== layout.openStart - layout.sinkEnd) throw new Error(`batched clusterkv: the index holds ${this.indexed} tokens, expected ${layout.openStart - layout.sinkEnd}`);
    const selected = this.clusters > 0 ? chosen : 0;
    return batchedPlan(layout, selected, selected > 0 ? this.ranking.dispatches(selected) : [], this.clusters);
  }

  dispose(): void {
    this.ranking.dispose();
    if (this.held) {
      disposeClusterIndex(this.held.index);
      tf.dispose([this.held.centroids, ...(this.held.boxes ? [this.held.boxes] : [])]);
    }
    this.held = null;
  }

  /** Clusters the oldest decode window not yet clustered. */
  private closeWindow(): void {
    const w = this.clusteredWindows;
    const { start, tokens, clusters } = windowClustering(this.params, this.prefillLength, w);
    if (tokens > 0) this.add(start, tokens, clusters, clusteringSeed(this.params, this.layer.layer, w));
    this.clusteredWindows++;
  }

  /** K-means of positions start..start+n-1 into k clusters (and their boxes), added to the index; rebinds. */
  private add(start: number, n: number, k: number, seed: number): void {
    const keys = this.layer.keyRows(start, n);
    const { centroids, labels } = clusterBatch(keys, this.layer.batch, k, this.params.iters, seed);
    const boxes = this.params.scoring === 'bound' ? clusterBoxes(keys, labels, k) : null;
    keys.dispose();
    const at = positions(start, n);
    const was = this.held;
    const next: BatchedClusters = was
      ? {
          index: appendClusters(was.index, labels, k, at),
          centroids: tf.concat([was.centroids, centroids], 1) as tf.Tensor3D,
          boxes: boxes && was.boxes ? (tf.concat([was.boxes, boxes], 1) as tf.Tensor3D) : null,
        }
      : { index: buildClusterIndex(labels, k, at), centroids: tf.clone(centroids), boxes: boxes ? tf.clone(boxes) : null };
    if (was) {
      disposeClusterIndex(was.index);
      tf.dispose([was.centroids, ...(was.boxes ? [was.boxes] : [])]);
    }
    tf.dispose([centroids, labels, ...(boxes ? [boxes] : [])]);
    // kept: a caller may step inside its own tidy
    for (const t of [next.centroids, next.index.sortedTokens, next.index.sizes, next.index.offsets, ...(next.boxes ? [next.boxes] : [])]) tf.keep(t);
    this.held = next;
    this.ranking.bind(next.boxes ?? next.centroids, next.index);
    this.version++;
  }
}
