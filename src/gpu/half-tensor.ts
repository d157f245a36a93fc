/**
 * fp16 storage for K, V and centroids (issue 19). tfjs has no float16 dtype, so an f16 tensor lives in a
 * tfjs int32 tensor of packed pairs: HalfTensor.packed [..., n / 2], element 2i in the low 16 bits of word i
 * and 2i + 1 in the high ones (WGSL's unpack2x16float order), for a logical float tensor of `shape`
 * [..., n] (n even). tfjs owns the buffer (disposal, memory accounting, the buffer pool); the WGSL kernels
 * bind it directly and decode in registers, accumulating in f32. Op chains and backends without the kernels
 * read the decoded float32 values (floatKv), so every path computes on the same numbers.
 *
 * Rounding: to nearest, ties to even, the same rule on the host (src/trace/float16.ts, the trace format's) and
 * on the GPU (half-pack.ts), so a workload packed on cpu and on webgpu holds identical bits. Relative rounding error <= 2^-11 for normal
 * values (|x| >= 2^-14), absolute <= 2^-25 below; |x| > 65504 becomes infinity.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeFloat16, encodeFloat16 } from '../trace/float16.js';
import { pathAvailable } from './kernel-path.js';
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

/** Packed words of float values (length even): the trace format's binary16 rounding (src/trace/float16.ts), paired. */
export function packHalfHost(values: ArrayLike<number>): Int32Array {
  const bits = encodeFloat16(Float32Array.from(values));
  const out = new Int32Array(bits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = bits[2 * i] | (bits[2 * i + 1] << 16);
  return out;
}

/** Float values of packed words. */
export function unpackHalfHost(words: ArrayLike<number>): Float32Array {
  const bits = new Uint16Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    bits[2 * i] = words[i] & 0xffff;
    bits[2 * i + 1] = (words[i] >>> 16) & 0xffff;
  }
  return decodeFloat16(bits);
}

/**
 * Where the storage conversions run: by WGSL wherever the WGSL path is available (webgpu), whatever path
 * is asked for, else on the host. They are storage, not a kernel the dispatcher (kernel-dispatch.ts)
 * chooses an implementation of, because webgpu has no exact alternative: a synchronous host read of a GPU
 * tensor fails in Node (tfjs' readSync needs OffscreenCanvas), and tfjs-webgpu computes int32 element-wise
 * ops in f32, so an op chain cannot build or split 32-bit words (65535 * 65536 + 65534 comes out as
 * 2147483520). Under CLUSTERKV_KERNELS=ops the op chains read the same decoded values (floatKv), so both
 * paths compute on the same numbers (test/gpu/wgsl/subgroup-kernels.test.ts).
 */
const packsOnGpu = () => pathAvailable('wgsl');

/** x [..., n] (n even) rounded to f16 and packed; the caller disposes (disposeKv). On webgpu packed by a WGSL kernel, elsewhere on the host. */
export function toHalf(x: tf.Tensor): HalfTensor {
  const n = x.shape[x.rank - 1];
  if (x.rank === 0 || n % 2 !== 0) throw new RangeError(`f16 storage needs an even last dimension, got shape [${x.shape.join(', ')}]`);
  const shape = [...x.shape];
  if (packsOnGpu()) return { dtype: 'f16', packed: packHalfWgsl(x), shape };
  return { dtype: 'f16', packed: tf.tensor(packHalfHost(x.dataSync()), [...shape.slice(0, -1), n / 2], 'int32'), shape };
}

/** The float32 values of h, shape h.shape (a new tensor the caller owns). */
export function fromHalf(h: HalfTensor): tf.Tensor {
  if (packsOnGpu()) return unpackHalfWgsl(h.packed, h.shape);
  return tf.tensor(unpackHalfHost(h.packed.dataSync()), h.shape, 'float32');
}

/** x itself (float32) or its decoded values; `owned` is what the caller must dispose. */
export function floatKv<T extends tf.Tensor>(x: KvTensor<T>): { tensor: T; owned?: tf.Tensor } {
  if (!isHalf(x)) return { tensor: x };
  const tensor = fromHalf(x) as T;
  return { tensor, owned: tensor };
}

/** f on the float32 values of x: x itself, or its decoded values (disposed when f returns or throws). */
export function withFloat<T extends tf.Tensor, R>(x: KvTensor<T>, f: (values: T) => R): R {
  const decoded = floatKv(x);
  try {
    return f(decoded.tensor);
  } finally {
    decoded.owned?.dispose();
  }
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
