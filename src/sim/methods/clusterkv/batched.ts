/**
 * ClusterKV's batched form, the state the WebGPU decode engine (src/model/engine/decode-engine.ts) keeps per
 * sparse layer for B sequences decoded together, as a model session keeps a ClusterKVLayer (layer.ts) per
 * layer; same plan (plan.ts: ranges and seeds):
 *   clusterPrompt  K-means of the prompt's keys [B G, L, d] (positions [sinks, P)) into C0 clusters
 *   step           closes the decode windows that are full (each clustered on its own into windowClusters
 *                  clusters appended to the index; prompt clusters never change) and plans the step: the
 *                  positions selected and the length of the list attended (sinks, selected, open window)
 * Every sequence starts K-means from the keys ClusterKVLayer would pick for it alone, so the clusters of
 * sequence b are the ones ClusterKVLayer builds from that sequence's keys. The engine's select kernel binds
 * `bindings` (centroids [B G, K, d], cluster sizes and offsets [B G, K], sorted tokens [B G, N]), which
 * change whenever `version` does. Centroid scoring only (the engine's select kernel scores q . c); the
 * webgpu backend only (the bindings are its buffers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { appendClusters, buildClusterIndex, disposeClusterIndex, type ClusterIndex } from '../../../gpu/cluster-index.js';
import { cosineKMeans, initialIndices } from '../../../gpu/kmeans.js';
import { bufferOf, storageReady } from '../../../gpu/wgsl/runtime/runtime.js';
import { decodeLayout, selectableBudget, type DecodeLayout } from '../../budget.js';
import type { ClusterKVParams } from './params.js';
import { clusteringSeed, positions, promptClustering, windowClustering } from './plan.js';

/** Rows start..start+n-1 of the layer's keys, every KV head of the batch: a new tensor [B G, n, d] (the caller disposes it). */
export type KeyRows = (start: number, n: number) => tf.Tensor3D;

/** The GPU buffers of the clusters, as the select kernel reads them. */
export interface ClusterBindings {
  /** [B G, K, d] f32 */
  centroids: GPUBuffer;
  /** [B G, K] i32 */
  sizes: GPUBuffer;
  /** [B G, K] i32 */
  offsets: GPUBuffer;
  /** [B G, N] i32 */
  sortedTokens: GPUBuffer;
}

/** One decode step of a layer, as planned by BatchedClusterKV.step. */
export interface BatchedStep {
  layout: DecodeLayout;
  /** clusters per KV head in the index */
  clusters: number;
  /** positions per KV head the index holds (openStart - sinkEnd) */
  indexed: number;
  /** positions selected per query head (0 while there are no clusters) */
  selected: number;
  /** positions attended per query head: sinks, selected, the open window up to the current token */
  listLength: number;
}

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

export class BatchedClusterKV {
  readonly params: ClusterKVParams;
  readonly layer: number;
  readonly batch: number;
  /** bumped whenever the clusters change (the select kernel's bindings with them) */
  version = 0;
  private readonly keys: KeyRows;
  private centroidsHeld: tf.Tensor3D | null = null;
  private indexHeld: ClusterIndex | null = null;
  private bound: ClusterBindings | null = null;
  /** converted copies the bindings read (storageReady) */
  private owned: tf.Tensor[] = [];
  private prefillLength = -1;
  private clusteredWindows = 0;

  /** params: a configured method's (plan.ts's clusterkvParams); keys: the layer's key rows. */
  constructor(params: ClusterKVParams, layer: number, batch: number, keys: KeyRows) {
    if (params.scoring !== 'centroid') throw new RangeError(`clusterkv: scoring '${params.scoring}' is not supported by the batched form (the decode engine scores centroids only)`);
    this.params = params;
    this.layer = layer;
    this.batch = batch;
    this.keys = keys;
  }

  /** clusters per KV head in the index */
  get clusters(): number {
    return this.indexHeld?.clusters ?? 0;
  }

  /** positions per KV head in the index */
  get indexed(): number {
    return this.indexHeld?.tokens ?? 0;
  }

  /** The centroids [B G, K, d] and index (owned by this object; read only); null before the first clusters. */
  get state(): { centroids: tf.Tensor3D; index: ClusterIndex } | null {
    return this.centroidsHeld && this.indexHeld ? { centroids: this.centroidsHeld, index: this.indexHeld } : null;
  }

  /** The buffers the select kernel binds; null while there are no clusters (K = 0). */
  get bindings(): ClusterBindings | null {
    return this.bound;
  }

  /** Clusters the prompt, positions 0..P-1 of the key rows. Once, before the first step. */
  clusterPrompt(P: number): void {
    if (this.prefillLength >= 0) throw new Error('batched ClusterKV: the prompt is already clustered');
    const { start, tokens, clusters } = promptClustering(this.params, P);
    this.prefillLength = P;
    if (clusters > 0) this.add(start, tokens, clusters, clusteringSeed(this.params, this.layer));
  }

  /** The step whose token sits at `position` under `budget`: closes the windows full by then (ClusterKVLayer's rule) and plans it. */
  step(position: number, budget: number): BatchedStep {
    if (this.prefillLength < 0) throw new Error('batched ClusterKV: clusterPrompt() must run before a step');
    const p = this.params;
    const layout = decodeLayout(position, this.prefillLength, p.sinks, p.window);
    while (this.clusteredWindows < layout.closedWindows) this.closeWindow();
    const indexed = this.indexed;
    if (indexed !== layout.openStart - layout.sinkEnd) throw new Error(`batched ClusterKV: the index holds ${indexed} tokens, expected ${layout.openStart - layout.sinkEnd}`);
    const selected = this.clusters > 0 ? selectableBudget(budget, p.budgetMode, layout) : 0;
    return { layout, clusters: this.clusters, indexed, selected, listLength: layout.sinkEnd + selected + (position - layout.openStart + 1) };
  }

  dispose(): void {
    if (this.indexHeld) disposeClusterIndex(this.indexHeld);
    tf.dispose([...(this.centroidsHeld ? [this.centroidsHeld] : []), ...this.owned]);
    this.centroidsHeld = this.indexHeld = this.bound = null;
    this.owned = [];
  }

  /** Clusters the oldest decode window not yet clustered. */
  private closeWindow(): void {
    const w = this.clusteredWindows;
    const { start, tokens, clusters } = windowClustering(this.params, this.prefillLength, w);
    if (tokens > 0) this.add(start, tokens, clusters, clusteringSeed(this.params, this.layer, w));
    this.clusteredWindows++;
  }

  /** K-means of positions start..start+n-1 into k clusters, added to the index; rebinds. */
  private add(start: number, n: number, k: number, seed: number): void {
    const keys = this.keys(start, n);
    const { centroids, labels } = clusterBatch(keys, this.batch, k, this.params.iters, seed);
    keys.dispose();
    const at = positions(start, n);
    if (this.indexHeld && this.centroidsHeld) {
      const index = appendClusters(this.indexHeld, labels, k, at);
      const all = tf.concat([this.centroidsHeld, centroids], 1) as tf.Tensor3D;
      disposeClusterIndex(this.indexHeld);
      tf.dispose([this.centroidsHeld, centroids]);
      this.indexHeld = index;
      this.centroidsHeld = all;
    } else {
      this.indexHeld = buildClusterIndex(labels, k, at);
      this.centroidsHeld = centroids;
    }
    labels.dispose();
    this.bind();
    this.version++;
  }

  private bind(): void {
    tf.dispose(this.owned);
    this.owned = [];
    const ready = (t: tf.Tensor, want: 'f32' | 'i32') => {
      const r = storageReady(t, want);
      if (r.owned) this.owned.push(r.owned);
      return bufferOf(r.tensor, want);
    };
    const index = this.indexHeld!;
    this.bound = { centroids: ready(this.centroidsHeld!, 'f32'), sizes: ready(index.sizes, 'i32'), offsets: ready(index.offsets, 'i32'), sortedTokens: ready(index.sortedTokens, 'i32') };
  }
}
