/**
 * The ClusterKV selection on subgroups in one dispatch, one workgroup per query head, without a sort:
 *
 *   score      q . centroid_c for every cluster: L lanes per centroid row (f32 or packed f16), partial dot
 *              products met by an xor butterfly of subgroup shuffles
 *   threshold  (tokens only) the budget reaches only the top clusters: the scores' range is cut into NB equal
 *              bins, a histogram of cluster *sizes* per bin (integer atomics), a suffix sum over the bins
 *              (subgroup scans) finds the lowest bin T whose clusters and those above hold >= n tokens. A
 *              cluster in a bin below T scores below every cluster in bins >= T (the bin is a monotone
 *              function of the score), so it starts at or past slot n and contributes nothing: only the
 *              clusters in bins >= T (the candidates, typically a few dozen of 400) are ranked. The full
 *              variant (ranked, taken, rankedSizes of every cluster) takes every cluster as a candidate.
 *   rank       rank_c = #{candidates j : s_j > s_c or (s_j = s_c and j < c)}: tf.topk's order and tie rule
 *              (scores compared as order-preserving u32 keys, -0 = +0), written to rank slots
 *   cut        inclusive prefix sum of the ranked sizes (subgroup scans), then each output slot j finds its
 *              rank by a binary search and its token in sortedTokens, as select-clusters.ts does (each rank's
 *              offset in sortedTokens is read once into workgroup memory first)
 *
 * The score passes' centroid loads and the output slots' token loads are issued passesInFlight and
 * slotsInFlight at a time (one global latency per group: one workgroup per query head leaves each SM little
 * else to hide latency behind). About a dozen barriers in all, against ~45 dependent bitonic passes in select-clusters.ts (kept for devices
 * without subgroups, and for rankedTokens). Workgroup memory 16 KP + 4 NB bytes (KP = nextPow2(K)).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClusterIndex } from '../../cluster-index.js';
import { kvShape, type KvDtype, type KvTensor } from '../../half-tensor.js';
import { kvBuffer, lanesPerRow } from '../attention/subgroup-attention.js';
import { subgroupMode, type SubgroupMode } from '../runtime/capabilities.js';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, shaderSource, storageReady, type Dispatch } from '../runtime/runtime.js';
import { subgroupCode } from '../runtime/subgroups.js';
import { slotTokens } from './select-clusters.js';
import { tunable } from '../runtime/tuning.js';

/**
 * Tuning knobs (bench/run.ts tune --set subgroup): subgroups per workgroup, score bins, vectors per lane.
 * Read-only; withTuning (runtime/tuning.ts) overrides knobs for a run.
 */
export const thresholdSelectTuning = tunable({
  /** subgroups per workgroup (one workgroup per query head) */
  subgroups: 8,
  /** bins of the score range for the threshold (a power of two, at most the workgroup size) */
  bins: 256,
  /** 16-byte vectors of a centroid row per lane, at least */
  vectorsPerLane: 4,
  /** score passes (RPI centroid rows each) whose loads are issued together: one global latency per that many */
  passesInFlight: 4,
  /** output slots per invocation whose token loads are issued together (slotTokens' pipelined form) */
  slotsInFlight: 4,
});
export type ThresholdSelectTuning = typeof thresholdSelectTuning;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

interface SelectLayout {
  full: boolean;
  K: number;
  D: number;
  kv: KvDtype;
  mode: SubgroupMode;
  NSG: number;
  NB: number;
  L: number;
  VPL: number;
  /** score passes in flight */
  F: number;
  /** output slots in flight */
  U: number;
}

function layoutOf(full: boolean, K: number, D: number, kv: KvDtype): SelectLayout | undefined {
  const mode = subgroupMode();
  if (!mode) return undefined;
  const t = thresholdSelectTuning;
  const L = lanesPerRow(D, kv, mode.size, t.vectorsPerLane);
  if (L === undefined) return undefined;
  const NSG = Math.max(1, Math.min(t.subgroups, Math.floor(deviceLimits().invocations / mode.size)));
  for (const knob of ['passesInFlight', 'slotsInFlight'] as const) {
    if (!Number.isInteger(t[knob]) || t[knob] < 1 || t[knob] > 8) throw new RangeError(`thresholdSelectTuning.${knob} must be 1..8, got ${t[knob]}`);
  }
  return { full, K, D, kv, mode, NSG, NB: Math.min(t.bins, NSG * mode.size), L, VPL: D / (kv === 'f16' ? 8 : 4) / L, F: t.passesInFlight, U: t.slotsInFlight };
}

function workgroupBytes(l: SelectLayout): number {
  const emulation = l.mode.kind === 'emulated' ? 4 * l.NSG * l.mode.size : 4;
  return 16 * nextPow2(l.K) + 4 * l.NB + 8 * l.NSG + 32 + emulation;
}

/** Whether the threshold select takes K clusters of dimension D on the active device. */
export function thresholdSelectFits(K: number, D: number, kv: KvDtype): boolean {
  if (K < 1) return false;
  return [false, true].every((full) => {
    const l = layoutOf(full, K, D, kv);
    // the full variant binds 9 storage buffers
    return !!l && l.VPL <= 4 && workgroupBytes(l) <= deviceLimits().workgroupStorage && deviceLimits().storageBuffers >= (full ? 9 : 6);
  });
}

/** WGSL of the select (memoised). Bindings: 0 params, 1 q [H, D], 2 centroids [G, K, D], 3 sizes, 4 offsets, 5 sortedTokens, 6 tokens; full: 7 ranked, 8 taken, 9 rankedSizes. */
export function thresholdSelectShader(full: boolean, K: number, D: number, kv: KvDtype): string {
  const l = layoutOf(full, K, D, kv);
  if (!l) throw new Error('threshold select: no subgroups on this device (check thresholdSelectFits first)');
  return shaderSource(`sg-select:${JSON.stringify(l)}`, () => selectSource(l));
}

function selectSource(l: SelectLayout): string {
  const { full, K, D, kv, mode, NSG, NB, L, VPL, F, U } = l;
  const SG = mode.size;
  const WG = NSG * SG;
  const KP = nextPow2(K);
  const QV = kv === 'f16' ? 2 : 1;
  const DV4 = D / 4;
  const DVR = D / (kv === 'f16' ? 8 : 4);
  const RPI = WG / L; // centroid rows per pass of the workgroup
  const sg = subgroupCode(mode, WG);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const dec = (x: string, a: number) => (kv === 'f32' ? x : `vec4<f32>(unpack2x16float(${x}.${a === 0 ? 'x' : 'z'}), unpack2x16float(${x}.${a === 0 ? 'y' : 'w'}))`);
  const qLoads = range(VPL).flatMap((v) => range(QV).map((a) => `  let q_${v}_${a} = q[h * DV4 + (${v}u * L + lane) * QV + ${a}u];`));
  // the dot product of a centroid row's lane vectors `${c}_v` with the query, and its butterfly over L lanes
  const dotOf = (c: string) =>
    range(VPL)
      .flatMap((v) => range(QV).map((a) => `dot(${dec(`${c}_${v}`, a)}, q_${v}_${a})`))
      .join(' + ');
  const butterflyOf = (x: string) => range(Math.log2(L)).map((i) => `    ${x} += sgXorF(${x}, ${1 << i}u);`).join('\n');
  const threshold = full
    ? `  // full ranking: every cluster is a candidate
  for (var c = t; c < K; c += WG) { candId[c] = c; candKey[c] = orderKey(bitcast<f32>(A[c])); }
  if (t == 0u) { nCand = K; }
  workgroupBarrier();`
    : `  // range of the scores
  var lo = 3.402823e38;
  var hi = -3.402823e38;
  for (var c = t; c < K; c += WG) { let s = bitcast<f32>(A[c]); lo = min(lo, s); hi = max(hi, s); }
  lo = sgMinF(lo);
  hi = sgMaxF(hi);
  if (sgLane == 0u) { red[sgIdx] = vec2<f32>(lo, hi); }
  workgroupBarrier();
  for (var k = 0u; k < NSG; k++) { lo = min(lo, red[k].x); hi = max(hi, red[k].y); }
  // histogram of cluster sizes by bin (integers: the same sums in any order)
  for (var c = t; c < K; c += WG) { atomicAdd(&hist[binOf(bitcast<f32>(A[c]), lo, hi)], u32(sizes[g * K + c])); }
  workgroupBarrier();
  // suffix sums over bins (invocation f holds bin NB - 1 - f): the first f whose suffix reaches n gives the threshold
  var x = 0u;
  if (f < NB) { x = atomicLoad(&hist[NB - 1u - f]); }
  let inc = sgInclAddU(x);
  if (sgLane == ${SG - 1}u) { tot[sgIdx] = inc; }
  workgroupBarrier();
  var before = 0u;
  for (var k = 0u; k < sgIdx; k++) { before += tot[k]; }
  if (f < NB && inc + before >= n) { atomicMax(&thr, NB - f); }
  workgroupBarrier();
  let T = atomicLoad(&thr) - 1u; // lowest bin taken (thr >= 1: the bins hold all N >= n tokens)
  for (var c = t; c < K; c += WG) {
    let s = bitcast<f32>(A[c]);
    if (binOf(s, lo, hi) >= T) {
      let at = atomicAdd(&candCount, 1u);
      candId[at] = c;
      candKey[at] = orderKey(s);
    }
  }
  workgroupBarrier();
  if (t == 0u) { nCand = atomicLoad(&candCount); }
  workgroupBarrier();`;
  const outputs = full
    ? `  for (var r = t; r < K; r += WG) {
    let end = A[r];
    let start = select(0u, A[max(r, 1u) - 1u], r > 0u);
    ranked[h * K + r] = i32(rankId[r]);
    taken[h * K + r] = select(0, i32(min(n - start, end - start)), n > start);
    rankedSizes[h * K + r] = i32(end - start);
  }`
    : '';
  return /* wgsl */ `${sg.enables}
struct Params { heads: u32, group: u32, clusters: u32, tokens: u32, take: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> centroids: array<${kv === 'f16' ? 'vec4<u32>' : 'vec4<f32>'}>;
@group(0) @binding(3) var<storage, read> sizes: array<i32>;
@group(0) @binding(4) var<storage, read> offsets: array<i32>;
@group(0) @binding(5) var<storage, read> sortedTokens: array<i32>;
@group(0) @binding(6) var<storage, read_write> tokens: array<i32>;
${full ? `@group(0) @binding(7) var<storage, read_write> ranked: array<i32>;
@group(0) @binding(8) var<storage, read_write> taken: array<i32>;
@group(0) @binding(9) var<storage, read_write> rankedSizes: array<i32>;` : ''}
const WG: u32 = ${WG}u;
const NSG: u32 = ${NSG}u;
const NB: u32 = ${NB}u;
const L: u32 = ${L}u;
const QV: u32 = ${QV}u;
const DV4: u32 = ${DV4}u;
const DVR: u32 = ${DVR}u;
const RPI: u32 = ${RPI}u;
// A: scores (f32 bits) by cluster, then the ranked sizes' inclusive prefix sums by rank
var<workgroup> A: array<u32, ${KP}>;
var<workgroup> candId: array<u32, ${KP}>;
var<workgroup> candKey: array<u32, ${KP}>;
var<workgroup> rankId: array<u32, ${KP}>;
var<workgroup> hist: array<atomic<u32>, ${NB}>;
var<workgroup> red: array<vec2<f32>, ${NSG}>;
var<workgroup> tot: array<u32, ${NSG}>;
var<workgroup> thr: atomic<u32>;
var<workgroup> candCount: atomic<u32>;
var<workgroup> nCand: u32;
${sg.decls}
// order-preserving map of a float to u32 (-0 as +0, so that they tie as floats do)
fn orderKey(s: f32) -> u32 {
  let bits = bitcast<u32>(select(s, 0.0, s == 0.0));
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

// the bin of score s in [lo, hi]: every step is monotone in s, so a lower bin means a lower score
fn binOf(s: f32, lo: f32, hi: f32) -> u32 {
  if (!(hi > lo)) { return 0u; }
  return u32(clamp((s - lo) / (hi - lo) * f32(NB), 0.0, f32(NB - 1u)));
}

@compute @workgroup_size(WG)${sg.attribute}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32${sg.params}) {
${sg.init}
  let h = wid.x;
  let g = h / P.group;
  let K = P.clusters;
  let N = P.tokens;
  let n = P.take;
  // f: the invocation's place in subgroup order (subgroup index, then lane), which the scans below follow;
  // not t, whose relation to subgroups no API promises
  let f = sgIdx * ${SG}u + sgLane;
  let lane = sgLane % L;
  let row = f / L;
${qLoads.join('\n')}
  // scores: RPI centroid rows per pass, L lanes each; F passes' loads issued before their sums
  for (var c0 = 0u; c0 < K; c0 += RPI * ${F}u) {
${range(F).map((p) => `    let cr${p} = min(c0 + ${p}u * RPI + row, K - 1u);\n    let cb${p} = (g * K + cr${p}) * DVR + lane;\n${range(VPL).map((v) => `    let cv${p}_${v} = centroids[cb${p} + ${v}u * L];`).join('\n')}`).join('\n')}
${range(F).map((p) => `    var s${p} = ${dotOf(`cv${p}`)};\n${butterflyOf(`s${p}`)}\n    if (lane == 0u && c0 + ${p}u * RPI + row < K) { A[cr${p}] = bitcast<u32>(s${p}); }`).join('\n')}
  }
  workgroupBarrier();
${threshold}
  let C = workgroupUniformLoad(&nCand);
  // rank of each candidate among the candidates: descending key, ties to the lower cluster id
  for (var i = t; i < C; i += WG) {
    let ki = candKey[i];
    let ci = candId[i];
    var r = 0u;
    for (var j = 0u; j < C; j++) {
      let kj = candKey[j];
      r += select(0u, 1u, kj > ki || (kj == ki && candId[j] < ci));
    }
    rankId[r] = ci;
  }
  workgroupBarrier();
  // ranked sizes, then their inclusive prefix sum in A: invocation f a block of CH ranks, blocks by subgroup scans
  let CH = (C + WG - 1u) / WG;
  var run = 0u;
  for (var i = 0u; i < CH; i++) {
    let r = f * CH + i;
    if (r < C) { run += u32(sizes[g * K + rankId[r]]); A[r] = run; }
  }
  let incl = sgInclAddU(run);
  if (sgLane == ${SG - 1}u) { tot[sgIdx] = incl; }
  workgroupBarrier();
  var prior = incl - run;
  for (var k = 0u; k < sgIdx; k++) { prior += tot[k]; }
  for (var i = 0u; i < CH; i++) {
    let r = f * CH + i;
    if (r < C) { A[r] += prior; }
  }
  workgroupBarrier();
  // each rank's offset in sortedTokens less its first slot (wrapping u32), in candKey (free after the ranking)
  for (var r = t; r < C; r += WG) { candKey[r] = u32(offsets[g * K + rankId[r]]) - select(0u, A[max(r, 1u) - 1u], r > 0u); }
  workgroupBarrier();
${outputs}
${slotTokens('A', 'rankId', 'C', { rel: 'candKey', slots: U })}
}
`;
}

interface IndexBuffers {
  sizes: GPUBuffer;
  offsets: GPUBuffer;
  sorted: GPUBuffer;
  owned: tf.Tensor[];
  scratch: GPUBuffer[];
}

function indexBuffers(index: ClusterIndex): IndexBuffers {
  const owned: tf.Tensor[] = [];
  const ready = (t: tf.Tensor) => {
    const r = storageReady(t, 'i32');
    if (r.owned) owned.push(r.owned);
    return bufferOf(r.tensor, 'i32');
  };
  // an index over no tokens has a [G, 0] sortedTokens: bind a stand-in (never read: no slot is taken)
  const sorted = index.tokens > 0 ? ready(index.sortedTokens) : scratchBuffer(16);
  return { sizes: ready(index.sizes), offsets: ready(index.offsets), sorted, owned, scratch: index.tokens > 0 ? [] : [sorted] };
}

/**
 * The select dispatch for the fused decode step: tokens [H, n] into `tokens` (at least H n int32),
 * n = min(budget, N) >= 1. Returns the dispatch and what to dispose after recording.
 */
export function thresholdSelectDispatch(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, n: number, tokens: GPUBuffer): { dispatch: Dispatch; owned: tf.Tensor[]; scratch: GPUBuffer[] } {
  const [H, D] = q.shape;
  const [G, K] = kvShape(centroids);
  const ib = indexBuffers(index);
  const qr = storageReady(q, 'f32');
  const cb = kvBuffer(centroids);
  return {
    dispatch: { code: thresholdSelectShader(false, K, D, cb.dtype), uniforms: [H, H / G, K, index.tokens, n], buffers: [bufferOf(qr.tensor, 'f32'), cb.buffer, ib.sizes, ib.offsets, ib.sorted, tokens], workgroups: [H] },
    owned: [...ib.owned, ...[qr.owned, cb.owned].filter((t): t is tf.Tensor => !!t)],
    scratch: ib.scratch,
  };
}

/** The token list [H, n] (one dispatch). K >= 1, n >= 1, thresholdSelectFits. */
export function thresholdSelectTokens(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, n: number): tf.Tensor2D {
  const tokens = outputTensor<tf.Rank.R2>([q.shape[0], n], 'int32');
  const { dispatch, owned, scratch } = thresholdSelectDispatch(q, centroids, index, n, tokens.buffer);
  record([dispatch], scratch);
  tf.dispose(owned);
  return tokens.tensor;
}

/** selectClusters' outputs on subgroups: tokens [H, n], ranked, taken, rankedSizes [H, K] (one dispatch). */
export function thresholdSelectClusters(q: tf.Tensor2D, centroids: KvTensor, index: ClusterIndex, n: number): { tokens: tf.Tensor2D; ranked: tf.Tensor2D; taken: tf.Tensor2D; rankedSizes: tf.Tensor2D } {
  const [H, D] = q.shape;
  const [G, K] = kvShape(centroids);
  const ib = indexBuffers(index);
  const qr = storageReady(q, 'f32');
  const cb = kvBuffer(centroids);
  const tokens = n > 0 ? outputTensor<tf.Rank.R2>([H, n], 'int32') : undefined;
  const tokenBuffer = tokens ? tokens.buffer : scratchBuffer(16);
  const [ranked, taken, rankedSizes] = [0, 1, 2].map(() => outputTensor<tf.Rank.R2>([H, K], 'int32'));
  record(
    [{ code: thresholdSelectShader(true, K, D, cb.dtype), uniforms: [H, H / G, K, index.tokens, n], buffers: [bufferOf(qr.tensor, 'f32'), cb.buffer, ib.sizes, ib.offsets, ib.sorted, tokenBuffer, ranked.buffer, taken.buffer, rankedSizes.buffer], workgroups: [H] }],
    [...(tokens ? [] : [tokenBuffer]), ...ib.scratch],
  );
  tf.dispose([...ib.owned, qr.owned, cb.owned].filter((t): t is tf.Tensor => !!t));
  return { tokens: tokens ? tokens.tensor : (tf.zeros([H, 0], 'int32') as tf.Tensor2D), ranked: ranked.tensor, taken: taken.tensor, rankedSizes: rankedSizes.tensor };
}
