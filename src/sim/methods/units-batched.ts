/**
 * The batched form (src/sim/batched-selector.ts) of the selection by contiguous units (units.ts: Quest's
 * pages, InfLLM's blocks): the same units and summaries, made from the engine's keys with the scheme's own
 * tfjs summary ([B G, m, d] keys give each row's units as a [G, m, d] slice would), rebuilt when the
 * selectable range grows (a decode window closes), and ranked on the GPU (batched-ranking.ts) as
 * unitSelector ranks them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { disposeClusterIndex, type ClusterIndex } from '../../gpu/cluster-index.js';
import { batchedLayout, batchedPlan, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes, OP_CHAIN_SLACK } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';
import { BatchedRanking, BOUND_QUERY_SCRATCH, boundQueryBytes } from './batched-ranking.js';
import { contiguousUnitIndex, type UnitScheme } from './units.js';

/**
 * GPU bytes of a unit method's batched selection, for at most n = capacity - sinks selectable positions in U
 * units of D summary components (2d for box summaries): per layer the summaries [B G, U, D] f32 and the unit
 * index (positions [B G, n], sizes and offsets [B G, U]); for a moment, a rebuild: up to five tensors of
 * the key rows' size [B G, n, d] f32 (the rows, their slice into whole units, the op chain's elementwise
 * steps: measured on the software adapter, four for Quest, five for InfLLM) and four of the summaries' size.
 * A rebuild replaces the whole state (rebuilt, every layer's). Its intermediates are tfjs programs, whose
 * inputs tfjs releases only when it submits its queue, every 15 programs (tfjs 4.22's
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE); a rebuild records at least 4 (slice, max, min, concat), so the
 * intermediates of at most PENDING_REBUILDS layers are alive at once (measured on the software adapter:
 * about 2 of Quest's at six layers). A WGSL summary kernel reading the cache, as K-means does, would hold
 * none of it.
 */
export function unitsBytes(shape: BatchedShape, params: ForcedSetParams, scheme: UnitScheme): SelectionBytes {
  const BG = shape.batch * shape.kvHeads;
  const d = shape.headDim;
  const n = Math.max(0, shape.capacity - params.sinks);
  const U = Math.ceil(n / scheme.unitSize);
  const D = scheme.query === 'bound' ? 2 * d : d;
  const layer = 4 * BG * (U * D + n + 2 * U);
  return { layer, scratch: scheme.query === 'bound' ? { [BOUND_QUERY_SCRATCH]: boundQueryBytes(shape) } : {}, rebuilt: layer, transient: 4 * (5 * BG * n * d + 4 * BG * U * D) + OP_CHAIN_SLACK, pending: PENDING_REBUILDS };
}

/** Layers whose rebuild intermediates may be alive at once: ceil(15 programs per submit / 4 per rebuild) + 1. */
export const PENDING_REBUILDS = 5;

export class BatchedUnits implements BatchedSelector {
  private prefillLength = -1;
  private readonly ranking: BatchedRanking;
  /** the bound summaries and index, for the selectable range ending at openStart */
  private held: { openStart: number; summaries: tf.Tensor3D; index: ClusterIndex } | null = null;

  constructor(
    private readonly layer: BatchedLayer,
    private readonly params: ForcedSetParams,
    private readonly scheme: UnitScheme,
    private readonly method: string,
  ) {
    this.ranking = new BatchedRanking(layer, scheme.query, method);
  }

  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, this.method);
    this.prefillLength = prompt;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, this.method), this.params, budget);
    if (chosen === 0) return batchedPlan(layout, 0, []);
    const { sinkEnd, openStart } = layout;
    if (this.held?.openStart !== openStart) {
      this.release();
      const keys = this.layer.keyRows(sinkEnd, openStart - sinkEnd);
      const summaries = this.scheme.summarise(keys);
      keys.dispose();
      const index = contiguousUnitIndex(this.layer.batch * this.layer.kvHeads, sinkEnd, openStart, this.scheme.unitSize);
      // kept: a caller may step inside its own tidy
      for (const t of [summaries, index.sortedTokens, index.sizes, index.offsets]) tf.keep(t);
      this.held = { openStart, summaries, index };
      this.ranking.bind(summaries, index);
    }
    return batchedPlan(layout, chosen, this.ranking.dispatches(chosen), this.ranking.units);
  }

  dispose(): void {
    this.ranking.dispose();
    this.release();
  }

  private release(): void {
    if (!this.held) return;
    this.held.summaries.dispose();
    disposeClusterIndex(this.held.index);
    this.held = null;
  }
}
