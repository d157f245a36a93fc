/**
 * Seeded random contents made on the device, for models and caches too large to upload (a Llama-3-8B-shaped
 * model is 29 GB of fp32 weights): a counter-based hash (PCG's output function) of (seed, element index),
 * so every element is a pure function of its index and the seed, the same on every device and run.
 *
 *   uniform  out[i] = offset + scale (2u - 1), u in [0, 1)             (weights; offset 1, scale 0: gains)
 *   planted  keys and values [BG, T, d] for rows t < P: token t of head bg belongs to cluster
 *            c = hash(bg, t) mod C; key = center(bg, c) + spread noise, centers and noise uniform in
 *            [-1, 1); values uniform in [-1, 1). Rows >= P are left alone (decode appends there).
 * Either into f32 buffers or f16 ones (storage-dtype.ts: pairs per u32, rounded to nearest even): the f16
 * contents are the f32 contents rounded.
 */
import { HALF_WGSL, type StorageDType } from './storage-dtype.js';

const WG = 256;
/** Workgroups of the grid-stride fills (enough to fill the largest GPU; each thread loops). */
export const FILL_GROUPS = 4096;

const HASH = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn unit(h: u32) -> f32 { return f32(h >> 8u) / 16777216.0; }
`;

/**
 * WGSL. Bindings: 0 params {count, seed, scale, offset}, 1 out [count] (f32, or u32 pairs for f16: count
 * even). Workgroups: FILL_GROUPS.
 */
export function uniformFillShader(dtype: StorageDType = 'f32'): string {
  const half = dtype === 'f16';
  return /* wgsl */ `
struct Params { count: u32, seed: u32, scale: f32, offset: f32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<${half ? 'u32' : 'f32'}>;
${HASH}
${half ? HALF_WGSL : ''}
fn value(i: u32, key: u32) -> f32 { return P.offset + P.scale * (2.0 * unit(pcg(i ^ key)) - 1.0); }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let key = pcg(P.seed);
  for (var i = gid.x; i < ${half ? 'P.count / 2u' : 'P.count'}; i += nw.x * ${WG}u) {
    out[i] = ${half ? 'pack2h(value(2u * i, key), value(2u * i + 1u, key))' : 'value(i, key)'};
  }
}
`;
}

/**
 * WGSL. Bindings: 0 params {heads BG, rows T, prompt P, clusters C, seed, spread}, 1 keys [BG, T, d],
 * 2 values [BG, T, d] (f32, or u32 pairs for f16). Workgroups: FILL_GROUPS.
 */
export function plantedKvShader(headDim: number, dtype: StorageDType = 'f32'): string {
  const half = dtype === 'f16';
  const put = (buf: string, f: string) => (half ? `${buf}[at / 2u] = pack2h(${f}, ${f.replace(/\bi\b/g, '(i + 1u)')});` : `${buf}[at] = ${f};`);
  return /* wgsl */ `
struct Params { heads: u32, rows: u32, prompt: u32, clusters: u32, seed: u32, spread: f32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> keys: array<${half ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> values: array<${half ? 'u32' : 'f32'}>;
${HASH}
${half ? HALF_WGSL : ''}
const D: u32 = ${headDim}u;
const STEP: u32 = ${half ? 2 : 1}u;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let total = P.heads * P.prompt * D / STEP;
  let kc = pcg(P.seed ^ 0x9e3779b9u);
  let kk = pcg(P.seed ^ 0x85ebca6bu);
  let kn = pcg(P.seed ^ 0xc2b2ae35u);
  let kv = pcg(P.seed ^ 0x27d4eb2fu);
  for (var w = gid.x; w < total; w += nw.x * ${WG}u) {
    let e = w * STEP;
    let i = e % D;
    let t = (e / D) % P.prompt;
    let bg = e / (D * P.prompt);
    let c = pcg(pcg(bg ^ kc) ^ t) % P.clusters;
    let at = (bg * P.rows + t) * D + i;
    ${put('keys', '(2.0 * unit(pcg(pcg(pcg(bg ^ kk) ^ c) ^ i)) - 1.0) + P.spread * (2.0 * unit(pcg(pcg(pcg(bg ^ kn) ^ t) ^ i)) - 1.0)')}
    ${put('values', '2.0 * unit(pcg(pcg(pcg(bg ^ kv) ^ t) ^ i)) - 1.0')}
  }
}
`;
}
