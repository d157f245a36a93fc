/**
 * Greedy sampling on the device: per sequence the index of the largest logit (ties: the lowest index, as
 * tf.argMax), written as the next input token and into a history row, so decode steps chain on the GPU and
 * the host reads tokens back only when it wants them.
 */

const WG = 256;

/**
 * WGSL. Bindings: 0 params {vocab, step}, 1 logits [B, V], 2 tokens [B] i32 (out), 3 history [steps, B] i32
 * (row `step` written). Workgroups: B.
 */
export function argmaxTokenShader(batch: number): string {
  return /* wgsl */ `
struct Params { vocab: u32, step: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(3) var<storage, read_write> history: array<i32>;
const WG: u32 = ${WG}u;
const B: u32 = ${batch}u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wid.x;
  let base = b * P.vocab;
  var v = -3.402823e38;
  var best = 0xffffffffu;
  for (var i = t; i < P.vocab; i += WG) {
    let x = logits[base + i];
    if (x > v || best == 0xffffffffu) { v = x; best = i; }
  }
  bestV[t] = v;
  bestI[t] = best;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      let ov = bestV[t + s];
      let oi = bestI[t + s];
      if (oi != 0xffffffffu && (bestI[t] == 0xffffffffu || ov > bestV[t] || (ov == bestV[t] && oi < bestI[t]))) { bestV[t] = ov; bestI[t] = oi; }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    tokens[b] = i32(bestI[0]);
    history[P.step * B + b] = i32(bestI[0]);
  }
}
`;
}
