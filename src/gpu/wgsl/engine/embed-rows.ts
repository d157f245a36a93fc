/**
 * Token embedding gather: x[r] = embedding[tokens[r]] for `count` rows (decode: the B sequences' tokens;
 * prefill: a chunk's tokens), ids clamped into the vocabulary. The embedding is stored f32 or f16
 * (storage-dtype.ts); x is f32.
 */
import { HALF_WGSL, vec4Storage, type HalfRead, type StorageDType } from './storage-dtype.js';

/**
 * WGSL. Bindings: 0 params {vocab, count}, 1 tokens [count] i32, 2 embedding [V, dim] (vec4 of its dtype),
 * 3 x [count, dim] (vec4). Workgroups: embedRowsWorkgroups.
 */
export function embedRowsShader(dim: number, dtype: StorageDType = 'f32', read: HalfRead = 'unpacked'): string {
  if (dim % 4 !== 0) throw new RangeError(`embedding: dim must be a multiple of 4, got ${dim}`);
  const E = vec4Storage('embedding', 2, dtype, read);
  return /* wgsl */ `${E.enable}
struct Params { vocab: u32, count: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
${E.decl}
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;
${dtype === 'f16' ? HALF_WGSL : ''}
const D4: u32 = ${dim / 4}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let id = gid.x + gid.y * nw.x * 64u;
  if (id >= P.count * D4) { return; }
  let b = id / D4;
  let tok = u32(clamp(tokens[b], 0, i32(P.vocab) - 1));
  x[id] = ${E.load('tok * D4 + id % D4')};
}
`;
}

/** Workgroups for `count` rows of `dim` (two dimensions past 65535). */
export function embedRowsWorkgroups(count: number, dim: number): [number, number] {
  const groups = Math.max(1, Math.ceil((count * dim) / 4 / 64));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}
