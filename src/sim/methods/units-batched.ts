/**
 * The batched form (src/sim/batched-selector.ts) of the selection by contiguous units (units.ts: Quest's
 * pages, InfLLM's blocks): the same units and summaries, made from the engine's keys with the scheme's own
 * tfjs summary ([B G, m, d] keys give each row's units as a [G, m, d] slice would), rebuilt when the
 * selectable range grows (a decode window closes), and ranked on the GPU (batched-ranking.ts) as
 * unitSelector ranks them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { disposeClusterIndex, type ClusterIndex } from '../../gpu/cluster-index.js';
import { batchedLayout, batchedPlan, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';
import { BatchedRanking } from './batched-ranking.js';
import { contiguousUnitIndex, type UnitScheme } from './units.js';

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
