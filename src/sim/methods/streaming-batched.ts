/**
 * streaming's batched form (src/sim/batched-selector.ts): the most recent selectable positions, the same run
 * for every query head of every sequence, as streaming.ts chooses them: one range dispatch (position-range.ts).
 */
import { PositionRangeKernel } from '../../gpu/wgsl/select/position-range.js';
import { batchedLayout, batchedPlan, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';

export class BatchedStreaming implements BatchedSelector {
  private prefillLength = -1;
  private readonly range: PositionRangeKernel;

  constructor(
    layer: BatchedLayer,
    private readonly params: ForcedSetParams,
  ) {
    this.range = new PositionRangeKernel(layer.batch * layer.heads, layer.selected, `l${layer.layer} streaming recent`);
  }

  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, 'streaming');
    this.prefillLength = prompt;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'streaming'), this.params, budget);
    return batchedPlan(layout, chosen, chosen > 0 ? [this.range.dispatch(layout.openStart - chosen, chosen)] : []);
  }

  dispose(): void {
    this.range.destroy();
  }
}
