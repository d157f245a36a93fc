/**
 * fp16 storage for K, V and centroids (issue 19). tfjs has no float16 dtype, so an f16 tensor lives in a
 * tfjs int32 tensor of packed pairs: HalfTensor.packed [..., n / 2], element 2i in the low 16 bits of word i
 * and 2i + 1 in the high ones (WGSL's unpack2x16float order), for a logical float tensor of `shape`
 * [..., n] (n even). tfjs owns the buffer (disposal, memory accounting, the buffer pool); the WGSL kernels
 * bind it directly and decode in registers, accumulating in f32. Op chains and backends without the kernels
 * read the decoded float32 values (floatKv), so every path computes on the same numbers.
 *
 * Rounding: to nearest, ties to even, the same rule on the host (f16Bits) and on the GPU (half-pack.ts), so
 * a workload packed on cpu and on webgpu holds identical bits. Relative rounding error <= 2^-11 for normal
 * values (|x| >= 2^-14), absolute <= 2^-25 below; |x| > 65504 becomes infinity.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasFeature } from './wgsl/runtime/capabilities.js';
import { packHalfWgsl, unpackHalfWgsl } from './wgsl/runtime/half-pack.js';

export const KV_DTYPES = ['f16', 'f32'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/** The K/V storage a benchmark uses unless told: f16 where the GPU device has 'shader-f16', else f32. */
export function defaultKvDtype(): KvDtype {
  return tf.getBackend() === 'webgpu' && hasFeature('shader-f16') ? 'f16' : 'f32';
}

export interface HalfTensor {
  readonly dtype: 'f16';
  /** int32 [..., n / 2]: pairs of f16 bits */
  readonly packed: tf.Tensor;
  /** the logical shape [..., n] */
  readonly shape: number[];
}

/** A K/V or centroid operand: float32 as tfjs holds it, or packed f16. */
export type KvTensor<T extends tf.Tensor = tf.Tensor3D> = T | HalfTensor;

export function isHalf(x: unknown): x is HalfTensor {
  return typeof x === 'object' && x !== null && (x as HalfTensor).dtype === 'f16' && (x as HalfTensor).packed instanceof tf.Tensor;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even f16 bits of x (as f32 first). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  const e = (a >>> 23) - 112;
  if (e >= 31) return sign | 0x7c00;
  if (e >= 1) {
    const m = a & 0x7fffff;
    let h = (e << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1;
    return sign | h;
  }
  const shift = 14 - e;
  if (shift > 24) return sign;
  const m = (a & 0x7fffff) | 0x800000;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) === 1)) h += 1;
  return sign | h;
}

/** The value of f16 bits h. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Packed words of float values (length even). */
export function packHalfHost(values: ArrayLike<number>): Int32Array {
  const out = new Int32Array(values.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = f16Bits(values[2 * i]) | (f16Bits(values[2 * i + 1]) << 16);
  return out;
}

/** Float values of packed words. */
export function unpackHalfHost(words: ArrayLike<number>): Float32Array {
  const out = new Float32Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = f16Value(words[i] & 0xffff);
    out[2 * i + 1] = f16Value((words[i] >>> 16) & 0xffff);
  }
  return out;
}

/** x [..., n] (n even) rounded to f16 and packed; the caller disposes (disposeKv). On webgpu packed by a WGSL kernel, elsewhere on the host. */
export function toHalf(x: tf.Tensor): HalfTensor {
  const n = x.shape[x.rank - 1];
  if (x.rank === 0 || n % 2 !== 0) throw new RangeError(`f16 storage needs an even last dimension, got shape [${x.shape.join(', ')}]`);
  const shape = [...x.shape];
  if (tf.getBackend() === 'webgpu') return { dtype: 'f16', packed: packHalfWgsl(x), shape };
  return { dtype: 'f16', packed: tf.tensor(packHalfHost(x.dataSync()), [...shape.slice(0, -1), n / 2], 'int32'), shape };
}

/** The float32 values of h, shape h.shape (a new tensor the caller owns). */
export function fromHalf(h: HalfTensor): tf.Tensor {
  if (tf.getBackend() === 'webgpu') return unpackHalfWgsl(h.packed, h.shape);
  return tf.tensor(unpackHalfHost(h.packed.dataSync()), h.shape, 'float32');
}

/** x itself (float32) or its decoded values; `owned` is what the caller must dispose. */
export function floatKv<T extends tf.Tensor>(x: KvTensor<T>): { tensor: T; owned?: tf.Tensor } {
  if (!isHalf(x)) return { tensor: x };
  const tensor = fromHalf(x) as T;
  return { tensor, owned: tensor };
}

/** Logical shape of a K/V operand (a HalfTensor's is that of its float values, not of its packed words). */
export function kvShape(x: KvTensor<tf.Tensor>): number[] {
  return x.shape;
}

export function kvDtype(x: KvTensor<tf.Tensor>): KvDtype {
  return isHalf(x) ? 'f16' : 'f32';
}

export function disposeKv(x: KvTensor<tf.Tensor> | undefined): void {
  if (x) (isHalf(x) ? x.packed : x).dispose();
}
