/**
 * random's batched form (src/sim/batched-selector.ts): the positions random.ts draws for the same seed and
 * layer, drawn on the GPU (random-draw.ts): every sequence's selector of a layer starts the same stream, so
 * each sequence of the batch draws what a single sequence would. The host keeps the stream's state: each
 * step takes H x chosen draws (chosen per query head, heads in order), none when chosen is 0.
 */
import { advanceMulberry, RandomDrawKernel } from '../../gpu/wgsl/select/random-draw.js';
import { layerSeed } from '../../trace/seeds.js';
import { batchedLayout, batchedPlan, declaredScratch, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';

/** GPU bytes of random's selection: the draw pool of every position [B H, T] i32, shared by the layers. */
export function randomBytes(shape: BatchedShape): SelectionBytes {
  return { layer: 0, scratch: { 'random-pool': shape.batch * shape.heads * shape.capacity * 4 }, rebuilt: 0, transient: 0 };
}

export class BatchedRandom implements BatchedSelector {
  private prefillLength = -1;
  /** mulberry32's state before the next step's first draw */
  private state: number;
  private readonly draw: RandomDrawKernel;

  constructor(
    private readonly layer: BatchedLayer,
    private readonly params: ForcedSetParams & { seed: number },
  ) {
    this.state = layerSeed(params.seed, layer.layer) >>> 0;
    const rows = layer.batch * layer.heads;
    const pool = declaredScratch(layer, randomBytes(layer), 'random-pool');
    this.draw = new RandomDrawKernel(rows, layer.heads, layer.capacity, pool, layer.selected, `l${layer.layer} random draws`);
  }

  prefill(prompt: number): void {
    firstPrefill(this.prefillLength, 'random');
    this.prefillLength = prompt;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'random'), this.params, budget);
    if (chosen === 0) return batchedPlan(layout, 0, []);
    const dispatch = this.draw.dispatch(layout.sinkEnd, layout.openStart - layout.sinkEnd, chosen, this.state);
    this.state = advanceMulberry(this.state, this.layer.heads * chosen);
    return batchedPlan(layout, chosen, [dispatch]);
  }

  dispose(): void {
    this.draw.destroy();
  }
}
