/**
 * Decode attention (one query per head, GQA) as flash-decoding: the attended tokens are split into chunks
 * of C; one workgroup per (chunk, KV head) handles every query head of that KV head, and writes each head's
 * partial result (the chunk's softmax maximum m, sum l and unnormalised output o); a second dispatch, one
 * workgroup per query head, merges the chunks: o = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
 *
 *   dense   the chunk is a range of positions; the group's query heads take it one after another (their
 *           repeated loads hit the cache), or share every K and V load (attentionTuning.denseLoads)
 *   sparse  per query head, positions tokens[h, j] read straight from K and V (no gathered copy); the
 *           heads of a KV head run in one workgroup over the same chunk of their lists, so rows that
 *           several heads selected are read while still in cache
 *
 * Same arithmetic as attention.ts: weights = softmax(q . k / sqrt(d)), fp32 throughout.
 * Workgroup memory: q of the group (R d floats), the chunk's scores (R C), a reduction row (WG) and the
 * output reduction (WG vec4): under 16 KiB for R C <= 1024.
 */
import * as tf from '@tensorflow/tfjs-core';
import { queryGroupSize } from '../../heads.js';
import { keyStorage, type HalfRead, type StorageDType } from '../engine/storage-dtype.js';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, shaderSource, storageReady, type Dispatch } from '../runtime/runtime.js';
import { tunable } from '../runtime/tuning.js';


/**
 * Tuning knobs (bench/run.ts tune; the defaults were chosen on the H200, bench/README.md): the longest
 * chunk for dense and sparse attention. A chunk is shortened (down to 16) until the pass has about
 * `workgroups` workgroups, so that short contexts and small budgets still spread over the GPU.
 * Read-only; withTuning (runtime/tuning.ts) overrides knobs for a run.
 */
export const attentionTuning = tunable({
  /** dense: positions per chunk, at most */
  denseChunk: 256,
  /** sparse: selected tokens per chunk (per query head), at most */
  sparseChunk: 64,
  /** workgroups a pass aims for */
  workgroups: 256,
  /**
   * dense: 'perHead' (the sparse kernel's loops, one query head at a time, a row re-read from cache by the
   * group's other heads: one accumulator per thread) or 'shared' (one load of a K or V row serves every
   * query head of the group: R accumulators per thread). perHead was 11-27% faster on the H200 at 8K-128K
   * (register pressure: fewer workgroups resident; bench/README.md "Tuning")
   */
  denseLoads: 'perHead' as 'perHead' | 'shared',
  /** threads per workgroup of the partial pass (a power of two, at least the row's vectors) */
  workgroupSize: 256,
  /** value rows in flight per thread in the value pass */
  valueLoads: 8,
});
export type AttentionTuning = typeof attentionTuning;

/** How the partial pass is built: attentionTuning's knobs when the shader is made. */
interface PartialLayout {
  /** one query head at a time (sparse always; dense with denseLoads 'perHead') */
  perHead: boolean;
  /** threads per workgroup */
  WG: number;
  /** value rows in flight per thread */
  U: number;
}

function pow2floor(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** Chunk length for R query heads per workgroup: the wanted one, capped so that R C <= 1024 floats. */
export function chunkFor(wanted: number, R: number): number {
  return Math.max(1, Math.min(wanted, pow2floor(Math.floor(1024 / R))));
}

/** The chunk of a pass over n tokens per head on G KV heads: at most `longest`, about `workgroups` chunks in all. */
function chunkOf(longest: number, n: number, G: number, R: number): number {
  return chunkFor(Math.min(longest, Math.max(16, pow2floor(Math.floor((n * G) / attentionTuning.workgroups)))), R);
}

/** Lanes that share one key row in the score pass: the largest of 8, 4, 2, 1 dividing the row's vectors. */
function keyLanes(DV: number): number {
  return [8, 4, 2, 1].find((l) => DV % l === 0)!;
}

/** Workgroup memory of the partial pass in bytes (q of the group, scores, reductions). */
function partialBytes(d: number, R: number, C: number): number {
  const vec = d % 4 === 0;
  const WG = attentionTuning.workgroupSize;
  return R * d * 4 + R * C * 4 + WG * 4 + WG * (vec ? 16 : 4) + WG * Math.ceil(R / 4) * 16 + R * 8;
}

/**
 * Partial pass. Bindings: 0 params, 1 q [H, d], 2 keys [G, T, d], 3 values [G, T, d], (sparse: 4 tokens
 * [H, n], a negative position an empty slot, attending nothing), then partO [H, S, d], partML [H, S] vec2 (m, l). `kv`: how keys and values are stored (f16: the
 * decode engine's f16 KV cache, read as storage-dtype.ts says, d a multiple of 4; a minimal read for the
 * engine until the f16 attention kernels replace this one).
 * Scores: LK lanes share a key row (each reads every LK-th vector: LK lanes read LK * 16 contiguous bytes),
 * so a warp's loads cover few rows and whole cache lines; the lanes' partial dot products meet in workgroup
 * memory. Values: lanes over tokens, one thread per row vector, valueLoads rows in flight per thread.
 */
export function partialShader(sparse: boolean, d: number, R: number, C: number, kv: StorageDType = 'f32', read: HalfRead = 'unpacked'): string {
  const t = attentionTuning;
  const layout: PartialLayout = { perHead: sparse || t.denseLoads === 'perHead', WG: t.workgroupSize, U: t.valueLoads };
  return shaderSource(`partial:${sparse}:${d}:${R}:${C}:${JSON.stringify(layout)}:${kv}:${read}`, () => partialSource(sparse, d, R, C, layout, kv, read));
}

/** Generates partialShader's source (memoised by partialShader). */
function partialSource(sparse: boolean, d: number, R: number, C: number, { perHead, WG, U }: PartialLayout, kv: StorageDType, read: HalfRead): string {
  const vec = d % 4 === 0;
  const K = keyStorage('keys', 2, d, kv, read, 'decode attention');
  const Vs = keyStorage('values', 3, d, kv, read, 'decode attention');
  const DV = vec ? d / 4 : d;
  const V = vec ? 'vec4<f32>' : 'f32';
  const hsum = (x: string) => (vec ? `(${x}.x + ${x}.y + ${x}.z + ${x}.w)` : x);
  if (DV > WG) throw new RangeError(`decode attention: head dimension ${d} too large for the WGSL kernel`);
  const L = Math.floor(WG / DV); // lanes over tokens in the value pass
  const TPH = pow2floor(Math.floor(WG / R)); // threads per head in the softmax reductions
  const LK = keyLanes(DV);
  const TP = WG / LK; // tokens per score pass
  const M = DV / LK; // vectors per lane and key row
  const RV = Math.ceil(R / 4);
  const b = sparse ? 5 : 4;
  // a negative position in a sparse list is an empty slot (a selection that took fewer than its slots): its
  // row reads position 0 and its score is masked out
  const token = (hh: string, j: string) => `tokens[(g * R + ${hh}) * P.count + start + ${j}]`;
  const row = (hh: string, j: string) => (sparse ? `(g * P.rows + u32(max(${token(hh, j)}, 0)))` : `(g * P.rows + start + ${j})`);
  const scores = perHead
    ? `      for (var hh = 0u; hh < R; hh++) {
        let kb = ${row('hh', 'j')} * DV;
        var acc = ${V}(0.0);
        for (var m = 0u; m < M; m++) {
          let i = kl + m * LK;
          acc += ${K.load('kb + i')} * qs[hh * DV + i];
        }
        part[hh] = ${hsum('acc')};
      }`
    : `      let kb = ${row('0u', 'j')} * DV;
      var acc = array<${V}, R>();
      for (var m = 0u; m < M; m++) {
        let i = kl + m * LK;
        let kv = ${K.load('kb + i')};
        for (var hh = 0u; hh < R; hh++) { acc[hh] += kv * qs[hh * DV + i]; }
      }
      for (var hh = 0u; hh < R; hh++) { part[hh] = ${hsum('acc[hh]')}; }`;
  // value pass: rows j, j + L, ..., j + (U - 1) L per step (U loads in flight), then the rest
  const ahead = (u: number) => (u === 0 ? 'j' : `j + ${u}u * L`);
  const valueLoop = (hh: string | null, body: (v: string, j: string) => string) => `      var j = lane;
      while (${ahead(U - 1)} < cnt) {
${Array.from({ length: U }, (_, u) => `        let v${u} = ${Vs.load(`${row(hh ?? '0u', ahead(u))} * DV + i`)};`).join('\n')}
${Array.from({ length: U }, (_, u) => `        ${body(`v${u}`, ahead(u))}`).join('\n')}
        j += ${U}u * L;
      }
      while (j < cnt) {
        let v0 = ${Vs.load(`${row(hh ?? '0u', 'j')} * DV + i`)};
        ${body('v0', 'j')}
        j += L;
      }`;
  const reduceOut = (acc: string, hh: string) => `    os[t] = ${acc};
    workgroupBarrier();
    if (t < DV) {
      var o = ${V}(0.0);
      for (var l = 0u; l < L; l++) { o += os[l * DV + t]; }
      partO[((g * R + ${hh}) * P.splits + s) * DV + t] = o;
    }
    workgroupBarrier();`;
  const values = perHead
    ? `  for (var hh = 0u; hh < R; hh++) {
    var acc = ${V}(0.0);
    if (lane < L) {
${valueLoop('hh', (v, j) => `acc += p[hh * C + ${j}] * ${v};`)}
    }
${reduceOut('acc', 'hh')}
  }`
    : `  var acc = array<${V}, R>();
  if (lane < L) {
${valueLoop(null, (v, j) => `for (var hh = 0u; hh < R; hh++) { acc[hh] += p[hh * C + ${j}] * ${v}; }`)}
  }
  for (var hh = 0u; hh < R; hh++) {
${reduceOut('acc[hh]', 'hh')}
  }`;
  return /* wgsl */ `${K.enable}
struct Params { rows: u32, count: u32, splits: u32, scale: f32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<${V}>;
${K.decl}
${Vs.decl}
${K.helpers}
${sparse ? '@group(0) @binding(4) var<storage, read> tokens: array<i32>;' : ''}
@group(0) @binding(${b}) var<storage, read_write> partO: array<${V}>;
@group(0) @binding(${b + 1}) var<storage, read_write> partML: array<vec2<f32>>;

const WG: u32 = ${WG}u;
const DV: u32 = ${DV}u;
const R: u32 = ${R}u;
const C: u32 = ${C}u;
const L: u32 = ${L}u;
const TPH: u32 = ${TPH}u;
const LK: u32 = ${LK}u;
const TP: u32 = ${TP}u;
const M: u32 = ${M}u;
const RV: u32 = ${RV}u;
const LOWEST: f32 = -3.402823e38;
var<workgroup> qs: array<${V}, ${R * DV}>;
var<workgroup> p: array<f32, ${R * C}>;
var<workgroup> red: array<f32, WG>;
var<workgroup> os: array<${V}, WG>;
var<workgroup> kp: array<vec4<f32>, ${WG * RV}>;
var<workgroup> ml: array<vec2<f32>, R>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let s = wid.x;
  let g = wid.y;
  let start = s * C;
  let cnt = min(C, P.count - start);
  for (var i = t; i < R * DV; i += WG) { qs[i] = q[g * R * DV + i]; }
  workgroupBarrier();
  // scores: thread (token js of the pass, lane kl) sums its lane's share of the dot products
  let js = t / LK;
  let kl = t % LK;
  for (var j0 = 0u; j0 < cnt; j0 += TP) {
    let j = j0 + js;
    var part = array<f32, ${RV * 4}>();
    if (j < cnt) {
${scores}
    }
    for (var v = 0u; v < RV; v++) { kp[t * RV + v] = vec4<f32>(part[4u * v], part[4u * v + 1u], part[4u * v + 2u], part[4u * v + 3u]); }
    workgroupBarrier();
    for (var u = t; u < TP * R; u += WG) {
      let j2 = j0 + u / R;
      let h2 = u % R;
      if (j2 < cnt) {
        var sc = 0.0;
        for (var l = 0u; l < LK; l++) { sc += kp[((u / R) * LK + l) * RV + h2 / 4u][h2 % 4u]; }
        p[h2 * C + j2] = ${sparse ? `select(LOWEST, sc * P.scale, ${token('h2', 'j2')} >= 0)` : 'sc * P.scale'};
      }
    }
    workgroupBarrier();
  }
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
      // (a masked score stays out even where a whole chunk is masked, mh = LOWEST)
      let e = select(0.0, exp(p[hh * C + j] - mh), p[hh * C + j] > LOWEST);
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

/** Threads of the merge pass's workgroup (one workgroup per query head). */
const MERGE_WG = 256;

/**
 * Merge pass. Bindings: 0 params, 1 partO [H, S, d], 2 partML [H, S], 3 out [H, d].
 * Every loop runs across the workgroup, not along S: one thread per chunk finds the maximum M and the sum l
 * (tree reductions in workgroup memory), and the output's (part, vector) threads each add up every NP-th
 * chunk. The older form looped over S in one thread per vector: at one sequence and 32K positions (S = 64
 * chunks) its three dependent loops cost more than the partial pass's reads (bench/README.md, "The merge").
 */
export function mergeShader(d: number): string {
  return shaderSource(`merge:${d}:${MERGE_WG}`, () => mergeSource(d));
}

/** Generates mergeShader's source (memoised by mergeShader). */
function mergeSource(d: number): string {
  const vec = d % 4 === 0;
  const DV = vec ? d / 4 : d;
  const V = vec ? 'vec4<f32>' : 'f32';
  const WG = MERGE_WG;
  // parts of the chunks the output threads split (each part: every NP-th chunk); one where a row exceeds WG
  const NP = Math.max(1, Math.floor(WG / DV));
  const output =
    DV <= WG
      ? `  let part = t / DV;
  let i = t % DV;
  var o = ${V}(0.0);
  if (part < NP) {
    for (var s = part; s < S; s += NP) { o += exp(partML[h * S + s].x - M) * partO[(h * S + s) * DV + i]; }
  }
  os[t] = o;
  workgroupBarrier();
  if (t < DV) {
    var acc = ${V}(0.0);
    for (var k = 0u; k < NP; k++) { acc += os[k * DV + t]; }
    out[h * DV + t] = acc / l;
  }`
      : `  for (var i = t; i < DV; i += WG) {
    var o = ${V}(0.0);
    for (var s = 0u; s < S; s++) { o += exp(partML[h * S + s].x - M) * partO[(h * S + s) * DV + i]; }
    out[h * DV + i] = o / l;
  }`;
  return /* wgsl */ `
struct Params { splits: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> partO: array<${V}>;
@group(0) @binding(2) var<storage, read> partML: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<${V}>;
const DV: u32 = ${DV}u;
const WG: u32 = ${WG}u;
const NP: u32 = ${NP}u;
var<workgroup> red: array<f32, WG>;
var<workgroup> os: array<${V}, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let S = P.splits;
  var m = -3.402823e38;
  for (var s = t; s < S; s += WG) { m = max(m, partML[h * S + s].x); }
  red[t] = m;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] = max(red[t], red[t + w]); }
    workgroupBarrier();
  }
  let M = red[0];
  workgroupBarrier();
  var ls = 0.0;
  for (var s = t; s < S; s += WG) { let ml = partML[h * S + s]; ls += exp(ml.x - M) * ml.y; }
  red[t] = ls;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] = red[t] + red[t + w]; }
    workgroupBarrier();
  }
  let l = red[0];
${output}
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
  const C = chunkOf(sparse ? attentionTuning.sparseChunk : attentionTuning.denseChunk, n, G, R);
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

/**
 * Whether the kernels handle this shape on the active device: a value row of at most 256 vectors, a GQA
 * group of at most 64 heads, and the partial pass's workgroup memory within the device's limit.
 */
export function attentionFits(H: number, G: number, d: number): boolean {
  const DV = d % 4 === 0 ? d / 4 : d;
  if (H % G !== 0 || DV > attentionTuning.workgroupSize || H / G > 64) return false;
  const R = H / G;
  const limit = deviceLimits().workgroupStorage;
  return [attentionTuning.denseChunk, attentionTuning.sparseChunk].every((c) => partialBytes(d, R, chunkFor(c, R)) <= limit);
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
