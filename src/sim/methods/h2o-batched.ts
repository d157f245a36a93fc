/**
 * H2O's batched form (src/sim/batched-selector.ts): h2o.ts's eviction on the GPU (h2o-select.ts), the
 * accumulated attention [B G, T] and the alive mask [B G, T] of every KV head of the batch kept in buffers
 * of this layer. A sequence's KV head sees only its own keys and queries, so each sequence keeps what a
 * single sequence's H2O selector keeps. One dispatch per step: the first step's full softmax, the kept set
 * (recent + heavy hitters, the rest of the selectable range evicted for good), and the accumulation of
 * this step's attention over the kept set.
 */
import { H2OStepKernel } from '../../gpu/wgsl/select/h2o-select.js';
import { storageBuffer, writeBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import { batchedLayout, batchedPlan, declaredScratch, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';

/**
 * GPU bytes of H2O's selection: per layer the accumulated attention and the alive mask [B G, T] (4 bytes
 * each); shared by the layers, the step's rows [B G, 2T].
 */
export function h2oBytes(shape: BatchedShape): SelectionBytes {
  const cells = shape.batch * shape.kvHeads * shape.capacity;
  return { layer: 2 * cells * 4, scratch: { 'h2o-rows': 2 * cells * 4 }, rebuilt: 0, transient: 0 };
}

export class BatchedH2O implements BatchedSelector {
  private prefillLength = -1;
  private started = false;
  private readonly acc: GPUBuffer;
  private readonly alive: GPUBuffer;
  private readonly kernel: H2OStepKernel;

  /** recentCount: the recent tokens of a kept set of b (h2o.ts's h2oRecentCount with the method's ratio). */
  constructor(
    layer: BatchedLayer,
    private readonly params: ForcedSetParams,
    private readonly recentCount: (b: number) => number,
  ) {
    const rows = layer.batch * layer.kvHeads;
    const T = layer.capacity;
    // every position starts alive with nothing accumulated (h2o.ts grows both as positions arrive)
    this.acc = storageBuffer(rows * T * 4, `l${layer.layer} h2o accumulated attention`);
    this.alive = storageBuffer(rows * T * 4, `l${layer.layer} h2o alive`);
    writeBuffer(this.alive, new Uint32Array(rows * T).fill(1));
    const tmp = declaredScratch(layer, h2oBytes(layer), 'h2o-rows');
    const buffers = { q: layer.queries, keys: layer.keys, acc: this.acc, alive: this.alive, tmp, selected: layer.selected };
    this.kernel = new H2OStepKernel(rows, layer.heads / layer.kvHeads, T, layer.headDim, buffers, `l${layer.layer} h2o`, layer.keyDtype);
  }

  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, 'h2o');
    this.prefillLength = prompt;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'h2o'), this.params, budget);
    const recent = this.recentCount(chosen);
    const dispatch = this.kernel.dispatch({ pos: position, sinkEnd: layout.sinkEnd, openStart: layout.openStart, recent, heavy: chosen - recent, first: !this.started });
    this.started = true;
    return batchedPlan(layout, chosen, [dispatch]);
  }

  dispose(): void {
    this.kernel.destroy();
    this.acc.destroy();
    this.alive.destroy();
  }
}
