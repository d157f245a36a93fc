/**
 * infinigen's batched form (src/sim/batched-selector.ts): per query head the top selectable positions by
 * InfiniGen's partial-channel score q'.k, q' = q M_h (infinigen-skewing.ts), ties to the lower position as
 * infinigen.ts's tf.topk takes them. Per step: q' [B H, d] = q x M (partial-query.ts), then
 *   'top-b'      the oracle's top-scores kernel on q' over the engine's key cache (top-keys.ts): B each
 *   'threshold'  InfiniGen's count (threshold-top.ts): each sequence's layer takes b = min(B, the mean over
 *                its heads of the tokens within alpha of the head's largest logit), the top b of each head
 *                in B slots, the rest empty (-1, which sparse attention skips): the list stays B long
 *
 * The map M [B H, d, d] (each sequence its own, as each sequence has its own LayerSelector) is fit at
 * prefill by partialQueryMap, the tfjs path's function, on what the tfjs selector fits on: the prompt's
 * post-RoPE queries when the engine handed them (promptQueries; kept on the host until the fit, P H d
 * floats per sequence, then released), else the prompt's selectable keys (the trace rule, infinigen.ts).
 * The map stays on the GPU: B H d^2 floats per sparse layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { kvHeadOfQueryHead } from '../../gpu/heads.js';
import { storageBuffer, writeBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import { PartialQueryKernel } from '../../gpu/wgsl/select/partial-query.js';
import { ThresholdTopKernel } from '../../gpu/wgsl/select/threshold-top.js';
import { TopScoresKernel } from '../../gpu/wgsl/select/top-keys.js';
import { batchedLayout, batchedPlan, declaredScratch, firstPrefill, promptOf, type BatchedLayer, type BatchedPlan, type BatchedSelector, type BatchedShape, type SelectionBytes, OP_CHAIN_SLACK } from '../batched-selector.js';
import type { ForcedSetParams } from './baseline.js';
import { partialChannelCount, partialQueryMap, selectablePromptKeys } from './infinigen-skewing.js';

/** What the batched form reads of infinigen's parameters (InfiniGenParams). */
export interface BatchedInfiniGenParams extends ForcedSetParams {
  partialRatio: number;
  select: string;
  alpha: number;
}

/**
 * GPU bytes of InfiniGen's selection: per layer the partial query maps [B H, d, d] f32; shared, the partial
 * queries [B H, d], the approximate scores [B H, T] and the threshold's counts [B H]; for a moment, the fit of one sequence: the prompt's
 * keys [B G, P, d] (when no queries were handed), four tensors of its calibration rows' size [H, P, d] and
 * six of its maps' [H, d, d] (the op chain's, measured on the software adapter).
 */
export function infinigenBytes(shape: BatchedShape): SelectionBytes {
  const { batch: B, heads: H, kvHeads: G, headDim: d, capacity: T } = shape;
  return {
    layer: B * H * d * d * 4,
    scratch: { 'infinigen-partial-query': B * H * d * 4, 'infinigen-scores': B * H * T * 4, 'infinigen-counts': B * H * 4 },
    rebuilt: 0,
    transient: (B * G * T * d + 4 * H * T * d + 6 * H * d * d) * 4 + OP_CHAIN_SLACK,
  };
}

export class BatchedInfiniGen implements BatchedSelector {
  private prefillLength = -1;
  private readonly channels: number;
  /** [B H, d, d] f32: each query head's partial query map */
  private readonly map: GPUBuffer;
  private readonly partial: PartialQueryKernel;
  private readonly top: TopScoresKernel | ThresholdTopKernel;
  /** per sequence, the prompt query rows handed so far ([n, H, d] from `start`), until the fit */
  private promptRows: { start: number; rows: Float32Array }[][];

  constructor(
    private readonly layer: BatchedLayer,
    private readonly params: BatchedInfiniGenParams,
  ) {
    if (params.select !== 'top-b' && params.select !== 'threshold') throw new RangeError(`batched infinigen: unknown select '${params.select}'`);
    const { batch: B, heads: H, kvHeads: G, headDim: d, capacity: T } = layer;
    const rows = B * H;
    this.channels = partialChannelCount(d, params.partialRatio);
    this.promptRows = Array.from({ length: B }, () => []);
    this.map = storageBuffer(rows * d * d * 4, `l${layer.layer} infinigen partial query map`);
    const bytes = infinigenBytes(layer);
    const partialQ = declaredScratch(layer, bytes, 'infinigen-partial-query');
    const scores = declaredScratch(layer, bytes, 'infinigen-scores');
    this.partial = new PartialQueryKernel(rows, d, { q: layer.queries, map: this.map, out: partialQ }, `l${layer.layer} infinigen partial query`);
    const label = `l${layer.layer} infinigen`;
    this.top =
      params.select === 'threshold'
        ? new ThresholdTopKernel(rows, H / G, H, T, T, d, 1 / Math.sqrt(d), params.alpha, { q: partialQ, keys: layer.keys, scores, counts: declaredScratch(layer, bytes, 'infinigen-counts'), out: layer.selected }, `${label} threshold`, layer.keyDtype)
        : new TopScoresKernel(rows, H / G, T, T, d, { q: partialQ, keys: layer.keys, scores, out: layer.selected }, `${label} top-B`, layer.keyDtype);
  }

  promptQueries(seq: number, start: number, rows: Float32Array): void {
    const { batch, heads: H, headDim: d } = this.layer;
    if (this.prefillLength >= 0) throw new Error('batched infinigen: prompt queries after prefill()');
    if (!(Number.isInteger(seq) && seq >= 0 && seq < batch)) throw new RangeError(`batched infinigen: sequence ${seq} outside the batch's ${batch}`);
    if (rows.length % (H * d) !== 0) throw new RangeError(`batched infinigen: prompt query rows must be [n, H = ${H}, d = ${d}], got ${rows.length} floats`);
    this.promptRows[seq].push({ start, rows: Float32Array.from(rows) });
  }

  async prefill(prompt: number): Promise<void> {
    firstPrefill(this.prefillLength, 'infinigen');
    this.prefillLength = prompt;
    const { batch: B, heads: H, kvHeads: G, headDim: d } = this.layer;
    const handed = this.promptRows.map((rows) => rows.length > 0);
    if (handed.some((h) => h !== handed[0])) throw new Error('batched infinigen: prompt queries were handed for some sequences only');
    const keys = handed[0] ? undefined : this.layer.keyRows(0, prompt); // [B G, P, d]
    const kvOf = kvHeadOfQueryHead(H, G);
    const maps = new Float32Array(B * H * d * d);
    try {
      for (let b = 0; b < B; b++) {
        const calibration = tf.tidy(() =>
          keys
            ? selectablePromptKeys(tf.slice(keys, [b * G, 0, 0], [G, prompt, d]), this.params.sinks, kvOf)
            : (tf.transpose(tf.tensor3d(this.queryRows(b, prompt), [prompt, H, d]), [1, 0, 2]) as tf.Tensor3D),
        ); // [H, n, d]
        try {
          const { map } = await partialQueryMap(calibration, this.channels);
          maps.set(await map.data(), b * H * d * d);
          map.dispose();
        } finally {
          calibration.dispose();
        }
      }
    } finally {
      keys?.dispose();
      this.promptRows = [];
    }
    writeBuffer(this.map, maps);
  }

  /** Sequence b's prompt queries [P, H, d] from the handed rows, which must cover 0..P-1 once each. */
  private queryRows(b: number, prompt: number): Float32Array {
    const row = this.layer.heads * this.layer.headDim;
    const out = new Float32Array(prompt * row);
    let next = 0;
    for (const { start, rows } of [...this.promptRows[b]].sort((x, y) => x.start - y.start)) {
      if (start !== next) break;
      const n = Math.min(rows.length / row, prompt - start);
      out.set(rows.subarray(0, n * row), start * row);
      next = start + n;
    }
    if (next !== prompt) throw new Error(`batched infinigen: sequence ${b}'s prompt queries cover positions 0..${next - 1}, not the prompt's 0..${prompt - 1}`);
    return out;
  }

  step(position: number, budget: number): BatchedPlan {
    const { layout, chosen } = batchedLayout(position, promptOf(this.prefillLength, 'infinigen'), this.params, budget);
    const { sinkEnd, openStart } = layout;
    if (chosen === 0) return batchedPlan(layout, 0, []);
    const m = openStart - sinkEnd;
    const top = this.top instanceof ThresholdTopKernel ? this.top.dispatches(sinkEnd, m, chosen) : [this.top.dispatch(sinkEnd, m, chosen)];
    return batchedPlan(layout, chosen, [this.partial.dispatch, ...top]);
  }

  dispose(): void {
    this.partial.destroy();
    this.top.destroy();
    this.map.destroy();
  }
}
