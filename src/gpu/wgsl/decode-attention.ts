/**
 * Decode attention (one query per head, GQA) as flash-decoding: the attended tokens are split into chunks
 * of C; one workgroup per (chunk, KV head) handles every query head of that KV head, and writes each head's
 * partial result (the chunk's softmax maximum m, sum l and unnormalised output o); a second dispatch, one
 * workgroup per query head, merges the chunks: o = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
 *
 *   dense   the chunk is a range of positions; the group's query heads share every K and V load
 *   sparse  per query head, positions tokens[h, j] read straight from K and V (no gathered copy); the
 *           heads of a KV head run in one workgroup over the same chunk of their lists, so rows that
 *           several heads selected are read while still in cache
 *
 * Same arithmetic as attention.ts: weights = softmax(q . k / sqrt(d)), fp32 throughout.
 * Workgroup memory: q of the group (R d floats), the chunk's scores (R C), a reduction row (WG) and the
 * output reduction (WG vec4): under 16 KiB for R C <= 1024.
 */
import * as tf from '@tensorflow/tfjs-core';
import { queryGroupSize } from '../heads.js';
import { bufferOf, outputTensor, record, scratchBuffer, storageReady, type Dispatch } from './runtime.js';

const WG = 256;

/** Tuning knobs (bench/tuning runs set them; the defaults were chosen on the H200, bench/README.md). */
export const attentionTuning = {
  /** dense: positions per chunk */
  denseChunk: 256,
  /** sparse: selected tokens per chunk (per query head) */
  sparseChunk: 64,
};

function pow2floor(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** Chunk length for R query heads per workgroup: the wanted one, capped so that R C <= 1024 floats. */
function chunkFor(wanted: number, R: number): number {
  return Math.max(1, Math.min(wanted, pow2floor(Math.floor(1024 / R))));
}

/**
 * Partial pass. Bindings: 0 params, 1 q [H, d], 2 keys [G, T, d], 3 values [G, T, d], (sparse: 4 tokens
 * [H, n]), then partO [H, S, d], partML [H, S] vec2 (m, l).
 */
export function partialShader(sparse: boolean, d: number, R: number, C: number): string {
  const vec = d % 4 === 0;
  const DV = vec ? d / 4 : d;
  const V = vec ? 'vec4<f32>' : 'f32';
  const hsum = (x: string) => (vec ? `(${x}.x + ${x}.y + ${x}.z + ${x}.w)` : x);
  if (DV > WG) throw new RangeError(`decode attention: head dimension ${d} too large for the WGSL kernel`);
  const L = Math.floor(WG / DV); // lanes over tokens in the value pass
  const TPH = pow2floor(Math.floor(WG / R)); // threads per head in the softmax reductions
  const b = sparse ? 5 : 4;
  const scores = sparse
    ? `  for (var idx = t; idx < R * C; idx += WG) {
    let hh = idx / C;
    let j = idx % C;
    if (j < cnt) {
      let tok = u32(tokens[(g * R + hh) * P.count + start + j]);
      let kb = (g * P.rows + tok) * DV;
      var acc = ${V}(0.0);
      for (var i = 0u; i < DV; i++) { acc += keys[kb + i] * qs[hh * DV + i]; }
      p[idx] = ${hsum('acc')} * P.scale;
    }
  }`
    : `  for (var j = t; j < cnt; j += WG) {
    let kb = (g * P.rows + start + j) * DV;
    var acc: array<${V}, R>;
    for (var i = 0u; i < DV; i++) {
      let kv = keys[kb + i];
      for (var hh = 0u; hh < R; hh++) { acc[hh] += kv * qs[hh * DV + i]; }
    }
    for (var hh = 0u; hh < R; hh++) { p[hh * C + j] = ${hsum('acc[hh]')} * P.scale; }
  }`;
  const values = sparse
    ? `  for (var hh = 0u; hh < R; hh++) {
    var acc = ${V}(0.0);
    if (lane < L) {
      for (var j = lane; j < cnt; j += L) {
        let tok = u32(tokens[(g * R + hh) * P.count + start + j]);
        acc += p[hh * C + j] * values[(g * P.rows + tok) * DV + i];
      }
    }
    os[t] = acc;
    workgroupBarrier();
    if (t < DV) {
      var o = ${V}(0.0);
      for (var l = 0u; l < L; l++) { o += os[l * DV + t]; }
      partO[((g * R + hh) * P.splits + s) * DV + t] = o;
    }
    workgroupBarrier();
  }`
    : `  var acc: array<${V}, R>;
  if (lane < L) {
    for (var j = lane; j < cnt; j += L) {
      let v = values[(g * P.rows + start + j) * DV + i];
      for (var hh = 0u; hh < R; hh++) { acc[hh] += p[hh * C + j] * v; }
    }
  }
  for (var hh = 0u; hh < R; hh++) {
    os[t] = acc[hh];
    workgroupBarrier();
    if (t < DV) {
      var o = ${V}(0.0);
      for (var l = 0u; l < L; l++) { o += os[l * DV + t]; }
      partO[((g * R + hh) * P.splits + s) * DV + t] = o;
    }
    workgroupBarrier();
  }`;
  return /* wgsl */ `
struct Params { rows: u32, count: u32, splits: u32, scale: f32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<${V}>;
@group(0) @binding(2) var<storage, read> keys: array<${V}>;
@group(0) @binding(3) var<storage, read> values: array<${V}>;
${sparse ? '@group(0) @binding(4) var<storage, read> tokens: array<i32>;' : ''}
@group(0) @binding(${b}) var<storage, read_write> partO: array<${V}>;
@group(0) @binding(${b + 1}) var<storage, read_write> partML: array<vec2<f32>>;

const WG: u32 = ${WG}u;
const DV: u32 = ${DV}u;
const R: u32 = ${R}u;
const C: u32 = ${C}u;
const L: u32 = ${L}u;
const TPH: u32 = ${TPH}u;
const LOWEST: f32 = -3.402823e38;
var<workgroup> qs: array<${V}, ${R * DV}>;
var<workgroup> p: array<f32, ${R * C}>;
var<workgroup> red: array<f32, WG>;
var<workgroup> os: array<${V}, WG>;
var<workgroup> ml: array<vec2<f32>, R>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let s = wid.x;
  let g = wid.y;
  let start = s * C;
  let cnt = min(C, P.count - start);
  for (var i = t; i < R * DV; i += WG) { qs[i] = q[g * R * DV + i]; }
  workgroupBarrier();
${scores}
  workgroupBarrier();
  // softmax statistics per head: TPH threads per head, tree reductions in red
  let hh = min(t / TPH, R - 1u);
  let inHead = t < R * TPH;
  let lane0 = t % TPH;
  var m = LOWEST;
  if (inHead) { for (var j = lane0; j < cnt; j += TPH) { m = max(m, p[hh * C + j]); } }
  red[t] = m;
  workgroupBarrier();
  for (var w = TPH / 2u; w > 0u; w >>= 1u) {
    if (inHead && lane0 < w) { red[t] = max(red[t], red[t + w]); }
    workgroupBarrier();
  }
  let mh = red[hh * TPH];
  workgroupBarrier();
  var sum = 0.0;
  if (inHead) {
    for (var j = lane0; j < cnt; j += TPH) {
      let e = exp(p[hh * C + j] - mh);
      p[hh * C + j] = e;
      sum += e;
    }
  }
  red[t] = sum;
  workgroupBarrier();
  for (var w = TPH / 2u; w > 0u; w >>= 1u) {
    if (inHead && lane0 < w) { red[t] = red[t] + red[t + w]; }
    workgroupBarrier();
  }
  if (inHead && lane0 == 0u) { ml[hh] = vec2<f32>(mh, red[t]); }
  workgroupBarrier();
  // weighted values: thread (lane, i) sums tokens lane, lane + L, ... of value component i
  let i = t % DV;
  let lane = t / DV;
${values}
  if (t < R) { partML[(g * R + t) * P.splits + s] = ml[t]; }
}
`;
}

/** Merge pass. Bindings: 0 params, 1 partO [H, S, d], 2 partML [H, S], 3 out [H, d]. */
export function mergeShader(d: number): string {
  const vec = d % 4 === 0;
  const DV = vec ? d / 4 : d;
  const V = vec ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params { splits: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> partO: array<${V}>;
@group(0) @binding(2) var<storage, read> partML: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<${V}>;
const DV: u32 = ${DV}u;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let S = P.splits;
  var M = -3.402823e38;
  for (var s = 0u; s < S; s++) { M = max(M, partML[h * S + s].x); }
  var l = 0.0;
  for (var s = 0u; s < S; s++) { let ml = partML[h * S + s]; l += exp(ml.x - M) * ml.y; }
  for (var i = t; i < DV; i += 64u) {
    var o = ${V}(0.0);
    for (var s = 0u; s < S; s++) { o += exp(partML[h * S + s].x - M) * partO[(h * S + s) * DV + i]; }
    out[h * DV + i] = o / l;
  }
}
`;
}

export interface AttentionPlan {
  dispatches: Dispatch[];
  scratch: GPUBuffer[];
}

/**
 * The two dispatches of one decode attention. q [H, d], keys/values [G, T, d] (GPU buffers); tokens: a
 * buffer of [H, n] int32 positions (sparse) or undefined (dense: n = T); out: [H, d] float32 buffer.
 */
export function attentionDispatches(qb: GPUBuffer, kb: GPUBuffer, vb: GPUBuffer, tokens: GPUBuffer | undefined, out: GPUBuffer, H: number, G: number, T: number, d: number, n: number): AttentionPlan {
  const R = queryGroupSize(H, G);
  const sparse = tokens !== undefined;
  const C = chunkFor(sparse ? attentionTuning.sparseChunk : attentionTuning.denseChunk, R);
  const S = Math.ceil(n / C);
  const partO = scratchBuffer(H * S * d * 4);
  const partML = scratchBuffer(H * S * 8);
  return {
    dispatches: [
      { code: partialShader(sparse, d, R, C), uniforms: [T, n, S, { f32: 1 / Math.sqrt(d) }], buffers: sparse ? [qb, kb, vb, tokens, partO, partML] : [qb, kb, vb, partO, partML], workgroups: [S, G] },
      { code: mergeShader(d), uniforms: [S], buffers: [partO, partML, out], workgroups: [H] },
    ],
    scratch: [partO, partML],
  };
}

/** Whether the kernels handle this shape (a value row of at most 256 lanes; GQA group of at most 256 heads). */
export function attentionFits(H: number, G: number, d: number): boolean {
  const DV = d % 4 === 0 ? d / 4 : d;
  return H % G === 0 && DV <= WG && H / G <= WG;
}

function attend(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D | undefined): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = keys.shape;
  const n = tokens ? tokens.shape[1] : T;
  if (n === 0) return tf.zeros([H, d]) as tf.Tensor2D;
  const ready = [storageReady(q, 'f32'), storageReady(keys, 'f32'), storageReady(values, 'f32'), ...(tokens ? [storageReady(tokens, 'i32')] : [])];
  const [qr, kr, vr, tr] = ready;
  const out = outputTensor<tf.Rank.R2>([H, d], 'float32');
  const plan = attentionDispatches(bufferOf(qr.tensor, 'f32'), bufferOf(kr.tensor, 'f32'), bufferOf(vr.tensor, 'f32'), tr ? bufferOf(tr.tensor, 'i32') : undefined, out.buffer, H, G, T, d, n);
  record(plan.dispatches, plan.scratch);
  tf.dispose(ready.map((r) => r.owned).filter((t): t is tf.Tensor => !!t));
  return out.tensor;
}

/** denseAttention on WGSL: [H, d]. q [H, d]; keys, values [G, T, d]. */
export function denseAttentionWgsl(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
  return attend(q, keys, values, undefined);
}

/** sparseAttention on WGSL: [H, d] over tokens [H, n] (int32 positions). */
export function sparseAttentionWgsl(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D): tf.Tensor2D {
  return attend(q, keys, values, tokens);
}
