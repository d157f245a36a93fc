/**
 * The decode engine's KV cache: per layer one key and one value buffer [B G, T, d] holding every sequence of
 * the batch (sequence b's KV head g is row block b G + g), T = capacity positions. One buffer per layer and
 * kind lets one attention dispatch serve the whole batch: to the attention kernels the batch is B G KV heads
 * and B H query heads. At Llama-3-8B's shape and 8 x 32K tokens a buffer is 1.07 GB, under WebGPU's 2 GB
 * binding limit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { outputTensor } from '../../gpu/wgsl/runtime/runtime.js';
import { FILL_GROUPS, plantedKvShader } from '../../gpu/wgsl/engine/seeded-fill.js';
import { bindDispatch, recordCopies, recordStep, storageBuffer, UniformBlock } from '../../gpu/wgsl/runtime/step-recorder.js';
import type { EngineShape } from './shape.js';

export class KvCache {
  readonly keys: GPUBuffer[];
  readonly values: GPUBuffer[];
  /** B G, the KV heads of the whole batch */
  readonly heads: number;

  constructor(
    readonly shape: EngineShape,
    readonly batch: number,
    readonly capacity: number,
  ) {
    this.heads = batch * shape.kvHeads;
    const bytes = this.heads * capacity * shape.headDim * 4;
    this.keys = Array.from({ length: shape.layers }, (_, l) => storageBuffer(bytes, `l${l}.keys`));
    this.values = Array.from({ length: shape.layers }, (_, l) => storageBuffer(bytes, `l${l}.values`));
  }

  /** Bytes of one layer's keys (or values). */
  get layerBytes(): number {
    return this.heads * this.capacity * this.shape.headDim * 4;
  }

  /**
   * A synthetic prompt of `prompt` positions in every layer, made on the device: keys around `clusters`
   * planted centers per KV head (seeded-fill.ts), values random. No prefill is run.
   */
  fillPlanted(prompt: number, clusters: number, seed: number, spread = 0.3): void {
    if (prompt > this.capacity) throw new RangeError(`prompt of ${prompt} positions exceeds the cache capacity ${this.capacity}`);
    const code = plantedKvShader(this.shape.headDim);
    const blocks = this.keys.map((_, l) => new UniformBlock([this.heads, this.capacity, prompt, Math.max(1, clusters), (seed * 31 + l) >>> 0, { f32: spread }]));
    const groups = Math.min(FILL_GROUPS, Math.ceil((this.heads * prompt * this.shape.headDim) / 256));
    recordStep(this.keys.map((k, l) => bindDispatch(code, blocks[l], [k, this.values[l]], [groups], 'init', `planted kv l${l}`)));
    for (const b of blocks) b.destroy();
  }

  /** Rows start..start+n-1 of every KV head of a layer's keys (or values) as a new tensor [B G, n, d]. */
  rows(layer: number, start: number, n: number, kind: 'keys' | 'values' = 'keys'): tf.Tensor3D {
    const d = this.shape.headDim;
    if (start < 0 || n < 1 || start + n > this.capacity) throw new RangeError(`rows ${start}..${start + n - 1} outside the cache (capacity ${this.capacity})`);
    const out = outputTensor<tf.Rank.R3>([this.heads, n, d], 'float32');
    const src = (kind === 'keys' ? this.keys : this.values)[layer];
    recordCopies((e) => {
      for (let h = 0; h < this.heads; h++) e.copyBufferToBuffer(src, (h * this.capacity + start) * d * 4, out.buffer, h * n * d * 4, n * d * 4);
    });
    return out.tensor;
  }

  destroy(): void {
    for (const b of [...this.keys, ...this.values]) b.destroy();
  }
}
