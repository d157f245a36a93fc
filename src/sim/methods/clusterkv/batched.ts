/**
 * ClusterKV's clusters for the decode engine, per sparse layer and for the whole batch at once: K-means over
 * the keys of B G KV heads (the WGSL kernels of src/gpu/kmeans.ts), the cluster index (cluster-index.ts),
 * and the GPU buffers the select kernel reads. Same rules and seeds as the tfjs path's ClusterKVLayer
 * (src/sim/methods/clusterkv-layer.ts): prompt positions [sinks, P) in C0 clusters, each closed decode window
 * in its own windowClusters clusters appended to the index, seeds derived per layer and window, and every
 * sequence of the batch starting K-means from the keys ClusterKVLayer would pick for it alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { appendClusters, buildClusterIndex, disposeClusterIndex, type ClusterIndex } from '../../../gpu/cluster-index.js';
import { cosineKMeans, initialIndices } from '../../../gpu/kmeans.js';
import { bufferOf, storageReady } from '../../../gpu/wgsl/runtime/runtime.js';
import type { BudgetMode } from '../../budget.js';
import { deriveSeed } from './layer.js';
import { positions } from './plan.js';
import type { Method } from '../../selector.js';

/** The ClusterKV parameters the engine uses (from a Method made by createMethod('clusterkv', ...)). */
export interface EngineClusterParams {
  budget: number;
  budgetMode: BudgetMode;
  sinks: number;
  window: number;
  windowClusters: number;
  tokensPerCluster: number;
  clusters: number;
  iters: number;
  seed: number;
  denseLayers: number;
}

export function engineClusterParams(method: Method): EngineClusterParams {
  if (method.name !== 'clusterkv') throw new RangeError(`decode engine: sparse attention runs method 'clusterkv' only, got '${method.name}'`);
  const p = method.params as Record<string, unknown>;
  if (p.scoring !== 'centroid') throw new RangeError(`decode engine: clusterkv scoring '${String(p.scoring)}' is not supported (only 'centroid')`);
  const int = (k: string) => p[k] as number;
  return { budget: method.budget, budgetMode: method.budgetMode, sinks: int('sinks'), window: int('window'), windowClusters: int('windowClusters'), tokensPerCluster: int('tokensPerCluster'), clusters: int('clusters'), iters: int('iters'), seed: int('seed'), denseLayers: int('denseLayers') };
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

/** One sparse layer's clusters: centroids [B G, K, d] and the index, with the buffers the select kernel binds. */
export class LayerClusters {
  private owned: tf.Tensor[] = [];
  centroidBuffer!: GPUBuffer;
  sizeBuffer!: GPUBuffer;
  offsetBuffer!: GPUBuffer;
  sortedBuffer!: GPUBuffer;

  constructor(
    public centroids: tf.Tensor3D,
    public index: ClusterIndex,
  ) {
    this.bind();
  }

  get clusters(): number {
    return this.index.clusters;
  }

  get tokens(): number {
    return this.index.tokens;
  }

  /** Adds clusters of a closed window: centroids [B G, k, d], labels [B G, n] at positions start..start+n-1 (taken over). */
  append(centroids: tf.Tensor3D, labels: tf.Tensor2D, k: number, start: number, n: number): void {
    const index = appendClusters(this.index, labels, k, positions(start, n));
    const all = tf.concat([this.centroids, centroids], 1) as tf.Tensor3D;
    disposeClusterIndex(this.index);
    tf.dispose([this.centroids, centroids, labels, ...this.owned]);
    this.owned = [];
    this.index = index;
    this.centroids = all;
    this.bind();
  }

  private bind(): void {
    const ready = (t: tf.Tensor, want: 'f32' | 'i32') => {
      const r = storageReady(t, want);
      if (r.owned) this.owned.push(r.owned);
      return bufferOf(r.tensor, want);
    };
    this.centroidBuffer = ready(this.centroids, 'f32');
    this.sizeBuffer = ready(this.index.sizes, 'i32');
    this.offsetBuffer = ready(this.index.offsets, 'i32');
    this.sortedBuffer = ready(this.index.sortedTokens, 'i32');
  }

  dispose(): void {
    disposeClusterIndex(this.index);
    tf.dispose([this.centroids, ...this.owned]);
    this.owned = [];
  }
}

/** Clusters keys [B G, n, d] at positions start..start+n-1 into k clusters (layer's seed for `part`). */
export function clusterLayer(keys: tf.Tensor3D, batch: number, k: number, p: EngineClusterParams, layer: number, part: number): { centroids: tf.Tensor3D; labels: tf.Tensor2D } {
  return clusterBatch(keys, batch, k, p.iters, deriveSeed(p.seed, layer, part));
}

/** A new LayerClusters from keys [B G, n, d] at positions start.. (k >= 1; part 0: the prompt, w + 1: window w). */
export function promptClusters(keys: tf.Tensor3D, batch: number, k: number, start: number, p: EngineClusterParams, layer: number, part = 0): LayerClusters {
  const { centroids, labels } = clusterLayer(keys, batch, k, p, layer, part);
  const index = buildClusterIndex(labels, k, positions(start, keys.shape[1]));
  labels.dispose();
  return new LayerClusters(centroids, index);
}
