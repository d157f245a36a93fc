/**
 * oracle's batched form (src/sim/batched-selector.ts): per query head the exact top-B selectable positions
 * by q.k, ties to the lower position, as oracle.ts's tf.topk takes them: one dispatch scoring the keys in
 * the engine's cache and selecting (top-keys.ts).
 */
import { TopScoresKernel } from '../../gpu/wgsl/select/top-keys.js';
import { batchedLayout, batchedPlan, declaredScratch, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';

/** GPU bytes of oracle's selection: the scores of every position [B H, T] f32, shared by the layers. */
export function oracleBytes(shape: BatchedShape): SelectionBytes {
  return { layer: 0, scratch: { 'oracle-scores': shape.batch * shape.heads * shape.capacity * 4 }, rebuilt: 0, transient: 0 };
}

export class BatchedOracle implements BatchedSelector {
  private prefillLength = -1;
  private readonly top: TopScoresKernel;

  constructor(
    layer: BatchedLayer,
    private readonly params: ForcedSetParams,
  ) {
    const rows = layer.batch * layer.heads;
    const scores = declaredScratch(layer, oracleBytes(layer), 'oracle-scores');
    const buffers = { q: layer.queries, keys: layer.keys, scores, out: layer.selected };
    this.top = new TopScoresKernel(rows, layer.heads / layer.kvHeads, layer.capacity, layer.capacity, layer.headDim, buffers, `l${layer.layer} oracle top-B`, layer.keyDtype);
  }

  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, 'oracle');
    this.prefillLength = prompt;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'oracle'), this.params, budget);
    const { sinkEnd, openStart } = layout;
    return batchedPlan(layout, chosen, chosen > 0 ? [this.top.dispatch(sinkEnd, openStart - sinkEnd, chosen)] : []);
  }

  dispose(): void {
    this.top.destroy();
  }
}
