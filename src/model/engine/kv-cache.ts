/**
 * The engine's KV cache: per layer one key and one value buffer [B G, T, d] holding every sequence of the
 * batch (sequence b's KV head g is row block b G + g), T = capacity positions, stored f32 or f16
 * (storage-dtype.ts: f16 pairs packed in u32, rounded to nearest even when written). One buffer per layer
 * and kind lets one attention dispatch serve the whole batch: to the attention kernels the batch is B G KV
 * heads and B H query heads. At Llama-3-8B's shape and 8 x 32K tokens an f32 buffer is 1.07 GB (f16:
 * 0.54 GB), under WebGPU's 2 GB binding limit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { outputTensor } from '../../gpu/wgsl/runtime/runtime.js';
import { FILL_GROUPS, plantedKvShader } from '../../gpu/wgsl/engine/seeded-fill.js';
import { STORAGE_BYTES, unpackRowsShader, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
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
    readonly dtype: StorageDType = 'f32',
  ) {
    if (dtype === 'f16' && shape.headDim % 2 !== 0) throw new RangeError(`an f16 KV cache needs an even head dimension, got ${shape.headDim}`);
    this.heads = batch * shape.kvHeads;
    const bytes = this.layerBytes;
    this.keys = Array.from({ length: shape.layers }, (_, l) => storageBuffer(bytes, `l${l}.keys`));
    this.values = Array.from({ length: shape.layers }, (_, l) => storageBuffer(bytes, `l${l}.values`));
  }

  /** Bytes of one layer's keys (or values). */
  get layerBytes(): number {
    return this.heads * this.capacity * this.shape.headDim * STORAGE_BYTES[this.dtype];
  }

  /**
   * A synthetic prompt of `prompt` positions in every layer, made on the device: keys around `clusters`
   * planted centers per KV head (seeded-fill.ts), values random. No prefill is run.
   */
  fillPlanted(prompt: number, clusters: number, seed: number, spread = 0.3): void {
    if (prompt > this.capacity) throw new RangeError(`prompt of ${prompt} positions exceeds the cache capacity ${this.capacity}`);
    const code = plantedKvShader(this.shape.headDim, this.dtype);
    const blocks = this.keys.map((_, l) => new UniformBlock([this.heads, this.capacity, prompt, Math.max(1, clusters), (seed * 31 + l) >>> 0, { f32: spread }]));
    const groups = Math.min(FILL_GROUPS, Math.ceil((this.heads * prompt * this.shape.headDim) / 256));
    recordStep(this.keys.map((k, l) => bindDispatch(code, blocks[l], [k, this.values[l]], [groups], 'init', `planted kv l${l}`)));
    for (const b of blocks) b.destroy();
  }

  /** Rows start..start+n-1 of every KV head of a layer's keys (or values) as a new f32 tensor [B G, n, d]. */
  rows(layer: number, start: number, n: number, kind: 'keys' | 'values' = 'keys'): tf.Tensor3D {
    const d = this.shape.headDim;
    if (start < 0 || n < 1 || start + n > this.capacity) throw new RangeError(`rows ${start}..${start + n - 1} outside the cache (capacity ${this.capacity})`);
    const out = outputTensor<tf.Rank.R3>([this.heads, n, d], 'float32');
    const src = (kind === 'keys' ? this.keys : this.values)[layer];
    if (this.dtype === 'f16') {
      const block = new UniformBlock([this.capacity, start, n]);
      const groups = Math.max(1, Math.ceil((this.heads * n * (d / 2)) / 256));
      const x = Math.min(groups, 65535);
      recordStep([bindDispatch(unpackRowsShader(this.heads, d), block, [src, out.buffer], [x, Math.ceil(groups / x)], 'other', `unpack ${kind} l${layer}`)]);
      block.destroy();
      return out.tensor;
    }
    recordCopies((e) => {
      for (let h = 0; h < this.heads; h++) e.copyBufferToBuffer(src, (h * this.capacity + start) * d * 4, out.buffer, h * n * d * 4, n * d * 4);
    });
    return out.tensor;
  }

  /**
   * Copies sequence `from`'s rows 0..n-1 of every layer into sequence `to` of `target` (this cache or another
   * of the same shape and dtype): a prefill shared by several sequences. WebGPU copies only between distinct
   * buffers, so a copy within this cache goes through a temporary buffer.
   */
  copySequence(from: number, to: number, n: number, target: KvCache = this): void {
    if (target.dtype !== this.dtype || target.shape.headDim !== this.shape.headDim || target.shape.kvHeads !== this.shape.kvHeads) throw new RangeError('copySequence: the caches differ in shape or dtype');
    if (n > this.capacity || n > target.capacity) throw new RangeError(`copySequence: ${n} rows exceed a cache's capacity`);
    const G = this.shape.kvHeads;
    const rowBytes = this.shape.headDim * STORAGE_BYTES[this.dtype];
    const bytes = n * rowBytes;
    const temp = target === this ? storageBuffer(G * bytes, 'kv copy') : undefined;
    recordCopies((e) => {
      for (const kind of ['keys', 'values'] as const) {
        this[kind].forEach((src, l) => {
          const dst = target[kind][l];
          for (let g = 0; g < G; g++) {
            const at = (from * G + g) * this.capacity * rowBytes;
            const to_ = (to * G + g) * target.capacity * rowBytes;
            if (temp) {
              e.copyBufferToBuffer(src, at, temp, g * bytes, bytes);
            } else e.copyBufferToBuffer(src, at, dst, to_, bytes);
          }
          if (temp) for (let g = 0; g < G; g++) e.copyBufferToBuffer(temp, g * bytes, dst, (to * G + g) * target.capacity * rowBytes, bytes);
        });
      }
    });
    temp?.destroy();
  }

  destroy(): void {
    for (const b of [...this.keys, ...this.values]) b.destroy();
  }
}
