/**
 * f32 <-> packed f16 conversion kernels for HalfTensor (half-tensor.ts). Packing rounds to nearest, ties to
 * even, with integer arithmetic on the float's bits (float32ToFloat16Bits in src/trace/float16.ts is the same rule on the host):
 * WGSL's own conversions (pack2x16float, f16()) may round either way, and parity compares kernels fed by
 * the GPU's packing with op chains fed by the host's. Unpacking is exact (every f16 is an f32).
 * One u32 holds elements 2i (low 16 bits) and 2i + 1 (high), the layout of unpack2x16float.
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferOf, outputTensor, record, storageReady } from './runtime.js';

const WG = 256;

/** WGSL: round-to-nearest-even f16 bits of an f32 (NaN stays NaN, overflow goes to infinity). */
export const F16_BITS_WGSL = /* wgsl */ `
fn f16Bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  let e = i32(a >> 23u) - 112; // f16 biased exponent
  if (e >= 31) { return sign | 0x7c00u; }
  if (e >= 1) {
    let m = a & 0x7fffffu;
    var h = (u32(e) << 10u) | (m >> 13u);
    let rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) { h += 1u; } // a carry moves into the exponent
    return sign | h;
  }
  // subnormal f16 (or zero): mantissa with its leading 1, shifted right by 14 - e with rounding
  let shift = u32(14 - e);
  if (shift > 24u) { return sign; }
  let m = (a & 0x7fffffu) | 0x800000u;
  var h = m >> shift;
  let rest = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (h & 1u) == 1u)) { h += 1u; }
  return sign | h;
}
`;

function packSource(): string {
  return /* wgsl */ `
struct Params { words: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
${F16_BITS_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= P.words) { return; }
  let v = x[i];
  out[i] = f16Bits(v.x) | (f16Bits(v.y) << 16u);
}
`;
}

function unpackSource(): string {
  return /* wgsl */ `
struct Params { words: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * ${WG}u;
  if (i >= P.words) { return; }
  out[i] = unpack2x16float(packed[i]);
}
`;
}

const PACK = packSource();
const UNPACK = unpackSource();

/** Workgroups for one thread per word, in two dimensions past 65535 workgroups. */
function grid(words: number): [number, number] {
  const groups = Math.max(1, Math.ceil(words / WG));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/** Packs x (float32, last dimension even) into int32 [..., n / 2] of f16 pairs. */
export function packHalfWgsl(x: tf.Tensor): tf.Tensor {
  const words = x.size / 2;
  const shape = [...x.shape.slice(0, -1), x.shape[x.rank - 1] / 2];
  const xr = storageReady(x, 'f32');
  const out = outputTensor(shape, 'int32');
  record([{ code: PACK, uniforms: [words], buffers: [bufferOf(xr.tensor, 'f32'), out.buffer], workgroups: grid(words) }]);
  xr.owned?.dispose();
  return out.tensor;
}

/** float32 tensor of `shape` from packed int32 f16 pairs. */
export function unpackHalfWgsl(packed: tf.Tensor, shape: number[]): tf.Tensor {
  const pr = storageReady(packed, 'i32');
  const out = outputTensor(shape, 'float32');
  record([{ code: UNPACK, uniforms: [packed.size], buffers: [bufferOf(pr.tensor, 'i32'), out.buffer], workgroups: grid(packed.size) }]);
  pr.owned?.dispose();
  return out.tensor;
}
