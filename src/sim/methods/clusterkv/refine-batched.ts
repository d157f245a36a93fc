/**
 * clusterkv-refine's batched form (src/sim/batched-selector.ts), as refine.ts's selector does it:
 *   pool     ClusterKV's batched form (batched.ts) at budget refine x B writes each query head's candidate
 *            positions into a pool buffer [B H, pool] instead of the engine's `selected`
 *   refine   one dispatch scores the pool's keys by exact q.k and takes the top B of each row, ties to the
 *            earlier position (top-keys.ts, 'pool' candidates), into `selected`
 * The units reported are the pool's clusters (what refine.ts reports). The pool buffer is a scratch sized
 * for refine x the layer's largestBudget.
 */
import { TopScoresKernel } from '../../../gpu/wgsl/select/top-keys.js';
import { batchedPlan, declaredScratch, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes } from '../../batched-selector.js';
import { selectableBudget } from '../../budget.js';
import { BatchedClusterKV, clusterkvBytes } from './batched.js';
import type { ClusterKVParams } from './params.js';

/** clusterkv-refine's parameters (refine.ts declares them): ClusterKV's and the pool's multiple. */
type RefineParams = ClusterKVParams & { readonly refine: number };

/**
 * GPU bytes of clusterkv-refine's batched selection: ClusterKV's (the pool's clusters), and shared by the
 * layers the pool [B H, refine x B'] i32 and the exact scores [B H, T] f32.
 */
export function refineBytes(shape: BatchedShape, params: RefineParams): SelectionBytes {
  const rows = shape.batch * shape.heads;
  const pool = clusterkvBytes(shape, params);
  return { ...pool, scratch: { ...pool.scratch, 'refine-pool': rows * params.refine * shape.largestBudget * 4, 'refine-scores': rows * shape.capacity * 4 } };
}

export class BatchedClusterKVRefine implements BatchedSelector {
  private readonly pool: BatchedClusterKV;
  private readonly top: TopScoresKernel;

  constructor(
    private readonly params: RefineParams,
    layer: BatchedLayer,
  ) {
    const bytes = refineBytes(layer, params);
    const poolBuffer = declaredScratch(layer, bytes, 'refine-pool');
    // the engine's layer with the pool buffer as the one its selection writes
    const poolLayer: BatchedLayer = Object.assign(Object.create(layer) as BatchedLayer, { selected: poolBuffer, largestBudget: params.refine * layer.largestBudget });
    this.pool = new BatchedClusterKV(params, poolLayer);
    const scores = declaredScratch(layer, bytes, 'refine-scores');
    const rows = layer.batch * layer.heads;
    const buffers = { q: layer.queries, keys: layer.keys, scores, out: layer.selected, pool: poolBuffer };
    this.top = new TopScoresKernel(rows, layer.heads / layer.kvHeads, layer.capacity, layer.capacity, layer.headDim, buffers, `l${layer.layer} clusterkv-refine top-B`, layer.keyDtype);
  }

  prefill(prompt: number): void {
    this.pool.prefill(prompt);
  }

  step(position: number, budget: number): BatchedPlan {
    // the pool's step has this step's layout (same position, prompt, sinks and window); B is chosen within it
    const candidates = this.pool.step(position, this.params.refine * budget);
    const { layout } = candidates;
    const selected = Math.min(selectableBudget(budget, this.params.budgetMode, layout), candidates.selected);
    const dispatches = selected > 0 ? [...candidates.dispatches, this.top.dispatch(layout.sinkEnd, layout.openStart - layout.sinkEnd, selected, candidates.selected)] : [];
    return batchedPlan(layout, selected, dispatches, candidates.units);
  }

  dispose(): void {
    this.pool.dispose();
    this.top.destroy();
  }
}
