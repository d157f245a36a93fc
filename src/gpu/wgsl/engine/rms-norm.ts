/**
 * RMSNorm of B rows at once: out[b] = x[b] / sqrt(mean(x[b]^2) + eps) * gain, as the model's rmsNorm
 * (transformer.ts: x * rsqrt(mean(x^2) + eps) * gain). One workgroup per row; vec4 loads; tree sum.
 */

const WG = 256;

/**
 * WGSL. Bindings: 0 params {eps}, 1 x [B, dim] (vec4), 2 gain [dim] (vec4), 3 out [B, dim] (vec4).
 * Workgroups: B. dim a multiple of 4.
 */
export function rmsNormShader(dim: number): string {
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) throw new RangeError(`rmsNorm: dim must be a positive multiple of 4, got ${dim}`);
  return /* wgsl */ `
struct Params { eps: f32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gain: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
const WG: u32 = ${WG}u;
const D4: u32 = ${dim / 4}u;
var<workgroup> red: array<f32, WG>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let base = wid.x * D4;
  var acc = 0.0;
  for (var i = t; i < D4; i += WG) { let v = x[base + i]; acc += dot(v, v); }
  red[t] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(red[0] / f32(${dim}) + P.eps);
  for (var i = t; i < D4; i += WG) { out[base + i] = x[base + i] * scale * gain[i]; }
}
`;
}
