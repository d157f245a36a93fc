/** Token embedding gather for B sequences: x[b] = embedding[tokens[b]] (ids clamped into the vocabulary). */

/**
 * WGSL. Bindings: 0 params {vocab}, 1 tokens [B] i32, 2 embedding [V, dim] (vec4), 3 x [B, dim] (vec4).
 * Workgroups: ceil(B dim/4 / 64).
 */
export function embedRowsShader(batch: number, dim: number): string {
  if (dim % 4 !== 0) throw new RangeError(`embedding: dim must be a multiple of 4, got ${dim}`);
  return /* wgsl */ `
struct Params { vocab: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
@group(0) @binding(2) var<storage, read> embedding: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;
const D4: u32 = ${dim / 4}u;
const TOTAL: u32 = ${batch * (dim / 4)}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= TOTAL) { return; }
  let b = id / D4;
  let tok = u32(clamp(tokens[b], 0, i32(P.vocab) - 1));
  x[id] = embedding[tok * D4 + id % D4];
}
`;
}
