/**
 * The ranking stage of the batched unit methods (ClusterKV's clusters, Quest's pages, InfLLM's blocks), the
 * one selectClusters runs for their tfjs selectors (src/gpu/selection.ts): per query head the select kernel
 * (src/gpu/wgsl/select/select-clusters.ts) scores its KV head's unit summaries [B G, K, D] against the
 * step's query, ranks the units (descending score, ties to the lower id) and writes the positions of the
 * ranked units up to the budget, the last one cut, from the unit index (src/gpu/cluster-index.ts). Box
 * summaries (D = 2d: Quest, ClusterKV's 'bound' scoring) are scored against [relu(q), min(q, 0)], which
 * the bound-query kernel writes first.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { QueryMap } from '../../gpu/cluster-bounds.js';
import type { ClusterIndex } from '../../gpu/cluster-index.js';
import { bufferOf, storageReady } from '../../gpu/wgsl/runtime/runtime.js';
import { bindDispatch, UniformBlock, type BoundDispatch } from '../../gpu/wgsl/runtime/step-recorder.js';
import { BoundQueryKernel } from '../../gpu/wgsl/select/bound-query.js';
import { maxSelectClusters, selectShader } from '../../gpu/wgsl/select/select-clusters.js';
import type { BatchedLayer } from '../batched-selector.js';

/** The scratch the 'bound' query map writes, [B H, 2d] f32 (shared by the layers), by name and size. */
export const BOUND_QUERY_SCRATCH = 'bound-query';
export function boundQueryBytes(shape: Pick<BatchedLayer, 'batch' | 'heads' | 'headDim'>): number {
  return shape.batch * shape.heads * 2 * shape.headDim * 4;
}

export class BatchedRanking {
  /** units per KV head bound (0 before the first bind) */
  units = 0;
  /** positions per KV head the bound index holds */
  indexed = 0;
  private select: BoundDispatch | null = null;
  /** converted copies the bound dispatch reads (storageReady) */
  private owned: tf.Tensor[] = [];
  private readonly uniform = new UniformBlock(new Array<number>(8).fill(0));
  private readonly mapped: BoundQueryKernel | null;
  private readonly query: GPUBuffer;

  constructor(
    private readonly layer: BatchedLayer,
    map: QueryMap,
    private readonly label: string,
  ) {
    const rows = layer.batch * layer.heads;
    if (map === 'bound') {
      this.query = layer.scratch(BOUND_QUERY_SCRATCH, boundQueryBytes(layer));
      this.mapped = new BoundQueryKernel(rows, layer.headDim, layer.queries, this.query, `l${layer.layer} ${label} bound query`);
    } else {
      this.query = layer.queries;
      this.mapped = null;
    }
  }

  /**
   * Binds unit summaries [B G, K, D] and their index over K units (borrowed: the caller keeps them until the
   * next bind or dispose). K >= 1.
   */
  bind(summaries: tf.Tensor3D, index: ClusterIndex): void {
    const K = index.clusters;
    if (summaries.shape[1] !== K) throw new RangeError(`batched ${this.label}: ${summaries.shape[1]} summaries for ${K} units`);
    if (K > maxSelectClusters()) throw new RangeError(`batched ${this.label}: ${K} units exceed the select kernel's limit on this device (${maxSelectClusters()})`);
    tf.dispose(this.owned);
    this.owned = [];
    const ready = (t: tf.Tensor, want: 'f32' | 'i32') => {
      const r = storageReady(t, want);
      if (r.owned) this.owned.push(r.owned);
      return bufferOf(r.tensor, want);
    };
    const buffers = [this.query, ready(summaries, 'f32'), ready(index.sizes, 'i32'), ready(index.offsets, 'i32'), ready(index.sortedTokens, 'i32'), this.layer.selected];
    this.select = bindDispatch(selectShader('score', false, K, summaries.shape[2]), this.uniform, buffers, [this.layer.batch * this.layer.heads], 'selection', `l${this.layer.layer} ${this.label} select`);
    this.units = K;
    this.indexed = index.tokens;
  }

  /** The dispatches that rank the bound units and write n positions per query head (1 <= n <= indexed). */
  dispatches(n: number): BoundDispatch[] {
    if (!this.select) throw new Error(`batched ${this.label}: no units bound`);
    const { batch, heads, kvHeads } = this.layer;
    this.uniform.write([batch * heads, heads / kvHeads, this.units, this.indexed, n]);
    return this.mapped ? [this.mapped.dispatch, this.select] : [this.select];
  }

  dispose(): void {
    tf.dispose(this.owned);
    this.owned = [];
    this.select = null;
    this.uniform.destroy();
    this.mapped?.destroy();
  }
}
