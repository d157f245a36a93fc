/**
 * Causal attention for prefill (flash-attention style, f32): the n queries of a prompt chunk at positions
 * p0..p0+n-1 of sequence `seq` attend the cached keys and values 0..p0+i (the chunk's own keys are in the
 * cache already: the RoPE/append kernel wrote them). Nothing [n, T] is materialised: one workgroup per
 * (block of BQ queries, query head) walks the keys in tiles of BK with an online softmax,
 *   per tile  S = Q K^T / sqrt(d) (masked past each query's position), m' = max(m, rowmax S),
 *             P = e^(S - m'), l = l e^(m - m') + rowsum P, O = O e^(m - m') + P V
 * and writes O / l. Same arithmetic as causal-attention.ts (softmax in f32), summed in another order.
 *
 * Layout: q [n, H, d], keys and values [B G, T, d] (f32, or f16 read as storage-dtype.ts says), out
 * [n, H d]. Query head h reads KV head h / (H / G) of sequence seq. Thread tiles: S as (BQ / 2) x (BK / 4)
 * threads of 2 x 4 scores; O as the same threads over (2 rows, d / (BK / 4) / ... columns): each thread
 * owns 2 query rows and DT = d / (4 * TC) vec4 columns, TC = BK / 4 column groups.
 * Workgroup memory: Q [BQ, d] + one K-or-V tile [BK, d] + P [BQ, BK] + row statistics; BK = 32, BQ = 32 for
 * d <= 64, else 16 (20 KiB at d = 64, 26 KiB at d = 128), halved down to 4 while that is past the device's
 * workgroup memory (WebGPU's default limit is 16 KiB; an H100 allows 48).
 */
import { HALF_WGSL, vec4Storage, type HalfRead, type StorageDType } from '../engine/storage-dtype.js';

const BK = 32;

/** Workgroup memory of the kernel in bytes for head dimension d and BQ queries per workgroup. */
export function prefillAttentionBytes(d: number, BQ: number): number {
  return 4 * (BQ * d + BK * d + BQ * BK + 3 * BQ);
}

/**
 * Queries per workgroup for head dimension d within `workgroupStorage` bytes of workgroup memory (see the
 * module comment); a head too large for the limit at 4 queries is an error naming both.
 */
export function prefillQueryBlock(d: number, workgroupStorage = Infinity): number {
  let BQ = d <= 64 ? 32 : 16;
  while (BQ > 4 && prefillAttentionBytes(d, BQ) > workgroupStorage) BQ /= 2;
  if (prefillAttentionBytes(d, BQ) > workgroupStorage) throw new RangeError(`prefill attention: head dimension ${d} needs ${prefillAttentionBytes(d, BQ)} bytes of workgroup memory, more than the device's ${workgroupStorage}`);
  return BQ;
}

/** Workgroups for n queries over H heads in blocks of BQ: [query blocks, H]. */
export function prefillAttentionWorkgroups(n: number, heads: number, BQ: number): [number, number] {
  return [Math.ceil(n / BQ), heads];
}

export interface PrefillAttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  kv: StorageDType;
  halfRead: HalfRead;
  /** queries per workgroup (prefillQueryBlock) */
  queryBlock: number;
}

/**
 * WGSL. Bindings: 0 params {n, p0, seq, rows T, scale}, 1 q [n, H, d], 2 keys, 3 values [B G, T, d],
 * 4 out [n, H d]. Workgroups: prefillAttentionWorkgroups.
 */
export function prefillAttentionShader(s: PrefillAttentionShape): string {
  const { heads: H, kvHeads: G, headDim: d } = s;
  if (d % 4 !== 0) throw new RangeError(`prefill attention: head dimension must be a multiple of 4, got ${d}`);
  if (H % G !== 0) throw new RangeError(`prefill attention: heads (${H}) must be a multiple of kvHeads (${G})`);
  const BQ = s.queryBlock;
  if (![4, 8, 16, 32].includes(BQ)) throw new RangeError(`prefill attention: queryBlock must be 4, 8, 16 or 32, got ${BQ}`);
  const D4 = d / 4;
  const TR = BQ / 2; // thread rows (2 queries each)
  const TC = BK / 4; // thread columns (4 keys each)
  const WG = TR * TC;
  if (D4 % TC !== 0 && TC % D4 !== 0) throw new RangeError(`prefill attention: head dimension ${d} does not tile`);
  const DT = Math.max(1, D4 / TC); // output vec4 columns per thread
  const K = vec4Storage('keys', 2, s.kv, s.halfRead);
  const V = vec4Storage('values', 3, s.kv, s.halfRead);
  const enable = K.enable || V.enable;
  return /* wgsl */ `${enable}
struct Params { n: u32, p0: u32, seq: u32, rows: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
${K.decl}
${V.decl}
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
${s.kv === 'f16' ? HALF_WGSL : ''}
const H: u32 = ${H}u;
const R: u32 = ${H / G}u;
const G: u32 = ${G}u;
const D4: u32 = ${D4}u;
const BQ: u32 = ${BQ}u;
const BK: u32 = ${BK}u;
const TC: u32 = ${TC}u;
const DT: u32 = ${DT}u;
const WG: u32 = ${WG}u;
const LOWEST: f32 = -3.402823e38;
var<workgroup> qs: array<vec4<f32>, ${BQ * D4}>;
var<workgroup> kvs: array<vec4<f32>, ${BK * D4}>;
var<workgroup> ps: array<f32, ${BQ * BK}>;
var<workgroup> mrow: array<f32, ${BQ}>;
var<workgroup> lrow: array<f32, ${BQ}>;
var<workgroup> arow: array<f32, ${BQ}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i0 = wid.x * BQ;
  let h = wid.y;
  let head = (P.seq * G + h / R) * P.rows;
  let last = min(i0 + BQ, P.n) - 1u; // the block's last query (rows past n repeat it and are not stored)
  for (var e = t; e < BQ * D4; e += WG) {
    let i = min(i0 + e / D4, last);
    qs[e] = q[(i * H + h) * D4 + e % D4] * P.scale;
  }
  if (t < BQ) { mrow[t] = LOWEST; lrow[t] = 0.0; }
  let tr = t / TC;
  let tc = t % TC;
  var o = array<vec4<f32>, ${2 * DT}>();
  let kEnd = P.p0 + last + 1u;
  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    workgroupBarrier();
    for (var e = t; e < BK * D4; e += WG) {
      let j = min(k0 + e / D4, kEnd - 1u);
      kvs[e] = ${K.load('(head + j) * D4 + e % D4')};
    }
    workgroupBarrier();
    // scores of queries 2 tr, 2 tr + 1 against keys 4 tc .. 4 tc + 3 (6 loads per 8 vec4 products)
    var s0 = array<vec4<f32>, 4>();
    var s1 = array<vec4<f32>, 4>();
    let qa = 2u * tr * D4;
    let kb = 4u * tc * D4;
    for (var c = 0u; c < D4; c++) {
      let x0 = qs[qa + c];
      let x1 = qs[qa + D4 + c];
      let y0 = kvs[kb + c];
      let y1 = kvs[kb + D4 + c];
      let y2 = kvs[kb + 2u * D4 + c];
      let y3 = kvs[kb + 3u * D4 + c];
      s0[0] += x0 * y0; s0[1] += x0 * y1; s0[2] += x0 * y2; s0[3] += x0 * y3;
      s1[0] += x1 * y0; s1[1] += x1 * y1; s1[2] += x1 * y2; s1[3] += x1 * y3;
    }
    let pos0 = P.p0 + min(i0 + 2u * tr, last);
    let pos1 = P.p0 + min(i0 + 2u * tr + 1u, last);
    for (var b = 0u; b < 4u; b++) {
      let j = 4u * tc + b;
      ps[2u * tr * BK + j] = select(LOWEST, dot(s0[b], vec4<f32>(1.0)), k0 + j <= pos0);
      ps[(2u * tr + 1u) * BK + j] = select(LOWEST, dot(s1[b], vec4<f32>(1.0)), k0 + j <= pos1);
    }
    workgroupBarrier();
    // online softmax, one thread per query row
    if (t < BQ) {
      var mx = mrow[t];
      for (var j = 0u; j < BK; j++) { mx = max(mx, ps[t * BK + j]); }
      let alpha = exp(mrow[t] - mx);
      var sum = 0.0;
      for (var j = 0u; j < BK; j++) {
        let p = exp(ps[t * BK + j] - mx);
        ps[t * BK + j] = p;
        sum += p;
      }
      lrow[t] = lrow[t] * alpha + sum;
      mrow[t] = mx;
      arow[t] = alpha;
    }
    workgroupBarrier();
    for (var e = t; e < BK * D4; e += WG) {
      let j = min(k0 + e / D4, kEnd - 1u);
      kvs[e] = ${V.load('(head + j) * D4 + e % D4')};
    }
    workgroupBarrier();
    // O rows 2 tr, 2 tr + 1; vec4 columns tc, tc + TC, ... (DT of them)
    for (var a = 0u; a < 2u; a++) {
      let i = 2u * tr + a;
      let alpha = arow[i];
      for (var u = 0u; u < DT; u++) {
        let c = tc + u * TC;
        if (c < D4) {
          var acc = o[a * DT + u] * alpha;
          for (var j = 0u; j < BK; j++) { acc += ps[i * BK + j] * kvs[j * D4 + c]; }
          o[a * DT + u] = acc;
        }
      }
    }
  }
  workgroupBarrier();
  for (var a = 0u; a < 2u; a++) {
    let i = 2u * tr + a;
    if (i0 + i < P.n) {
      let inv = 1.0 / lrow[i];
      for (var u = 0u; u < DT; u++) {
        let c = tc + u * TC;
        if (c < D4) { out[((i0 + i) * H + h) * D4 + c] = o[a * DT + u] * inv; }
      }
    }
  }
}
`;
}
