/**
 * How the engine's kernels read and write buffers stored in f32 or f16 (weights, KV caches); arithmetic is
 * f32 in every case. An f16 buffer holds its elements in pairs, one u32 each: element 2i in the low 16 bits,
 * 2i + 1 in the high (unpack2x16float's layout, so four elements are one vec2<u32>). Two ways to read it:
 *   native    the device has 'shader-f16': the buffer is declared array<vec4<f16>> (`enable f16;`) and
 *             widened with vec4<f32>(...)
 *   unpacked  no 'shader-f16' (the software adapter, tfjs's default device): array<vec2<u32>>, each u32
 *             widened with unpack2x16float (core WGSL)
 * Both read the same bytes, HalfTensor's layout (half-tensor.ts). Writes (the KV append) pack with
 * half-pack.ts's f16Bits, round to nearest, ties to even, the host's rule (src/trace/float16.ts), so a cache
 * written on the GPU equals one rounded on the host: WGSL's own f32 -> f16 conversions may round either way.
 */
import type { KvDtype } from '../../half-tensor.js';
import { F16_BITS_WGSL } from '../runtime/half-pack.js';
import { webgpuBackend } from '../runtime/runtime.js';

/** Element type of a stored buffer: half-tensor.ts's K/V storage, for weights too. */
export type StorageDType = KvDtype;

/** Bytes per element. */
export const STORAGE_BYTES: Readonly<Record<StorageDType, number>> = { f32: 4, f16: 2 };

/** Whether f16 buffers are read natively on the active device ('shader-f16'), else unpacked from u32. */
export function nativeF16(): boolean {
  return webgpuBackend().device.features.has('shader-f16');
}

/** The way a kernel reads f16 storage, fixed when its source is generated (part of its cache key). */
export type HalfRead = 'native' | 'unpacked';

export function halfRead(): HalfRead {
  return nativeF16() ? 'native' : 'unpacked';
}

/** A read-only buffer of vec4s (4 consecutive elements) at `binding`, and how to load vec4 i as vec4<f32>. */
export interface Vec4Storage {
  /** the binding's declaration */
  decl: string;
  /** WGSL expression: element vec4 `index` as vec4<f32> */
  load: (index: string) => string;
  /** directive the module must start with ('' or 'enable f16;') */
  enable: string;
}

export function vec4Storage(name: string, binding: number, dtype: StorageDType, read: HalfRead): Vec4Storage {
  if (dtype === 'f32') return { decl: `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4<f32>>;`, load: (i) => `${name}[${i}]`, enable: '' };
  if (read === 'native') return { decl: `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4<f16>>;`, load: (i) => `vec4<f32>(${name}[${i}])`, enable: 'enable f16;' };
  return { decl: `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec2<u32>>;`, load: (i) => `unpack4h(${name}[${i}])`, enable: '' };
}

/**
 * A read-only buffer of rows of `headDim` elements at `binding`, in vectors of a kernel's layout: vec4s
 * (Vec4Storage) when headDim is a multiple of 4, else single f32 elements (f32 storage only: an f16 buffer
 * needs vec4 rows). `helpers`: the WGSL the loads call (HALF_WGSL for f16, else ''). `who` names the kernel
 * in the error.
 */
export function keyStorage(name: string, binding: number, headDim: number, dtype: StorageDType, read: HalfRead, who: string): Vec4Storage & { helpers: string } {
  if (headDim % 4 === 0) return { ...vec4Storage(name, binding, dtype, read), helpers: dtype === 'f16' ? HALF_WGSL : '' };
  if (dtype === 'f16') throw new RangeError(`${who}: f16 keys and values need a head dimension that is a multiple of 4, got ${headDim}`);
  return { decl: `@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;`, load: (i) => `${name}[${i}]`, enable: '', helpers: '' };
}

/** WGSL helpers every f16-reading shader includes (harmless when unused). */
export const HALF_WGSL = /* wgsl */ `
fn unpack4h(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
${F16_BITS_WGSL}
fn pack2h(x0: f32, x1: f32) -> u32 { return f16Bits(x0) | (f16Bits(x1) << 16u); }
`;

/** Bytes of `count` elements of dtype, rounded up to whole u32 words (f16 pairs). */
export function storageBytes(count: number, dtype: StorageDType): number {
  return dtype === 'f32' ? 4 * count : 4 * Math.ceil(count / 2);
}

/**
 * Widens rows of an f16 buffer [heads, T, d] (packed) into an f32 buffer [heads, n, d]: rows start..start+n-1
 * of every head. WGSL. Bindings: 0 params {rows T, start, n}, 1 packed [heads, T, d/2] u32, 2 out [heads, n, d]
 * vec2. Workgroups: ceil(heads n d/2 / 256).
 */
export function unpackRowsShader(heads: number, headDim: number): string {
  if (headDim % 2 !== 0) throw new RangeError(`unpack rows: head dimension must be even, got ${headDim}`);
  return /* wgsl */ `
struct Params { rows: u32, start: u32, n: u32, pad0: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>;
const HALF: u32 = ${headDim / 2}u;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let id = gid.x + gid.y * nw.x * 256u;
  if (id >= ${heads}u * P.n * HALF) { return; }
  let w = id % HALF;
  let t = (id / HALF) % P.n;
  let h = id / (HALF * P.n);
  out[id] = unpack2x16float(packed[(h * P.rows + P.start + t) * HALF + w]);
}
`;
}
