/**
 * The ClusterKV selection in one dispatch: one workgroup per query head scores the K centroids of its KV
 * head, sorts them (bitonic sort in workgroup memory: descending score, ties to the lower cluster id, the
 * order tf.topk gives), prefix-sums the ranked cluster sizes in place, and writes the token positions of the
 * ranked clusters up to the budget, the last one cut (each output slot finds its cluster by a binary search
 * over the cumulative sizes, as the op chain's searchSorted does).
 *
 * Generic over the summary dimension D: q [H, D] and centroids [G, K, D] need only agree on D (the head
 * dimension for ClusterKV's inner-product scoring; 2d for a bound-style scoring). Raw inner products, no
 * scaling, as selection.ts's scoreCentroids.
 *
 * Workgroup memory: two arrays of KP = nextPow2(K) u32 (sort keys, then cumulative sizes; cluster ids):
 * 8 KP bytes, 32 KiB at K = 4096. Larger K than the device's limit allows runs the op chain instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClusterIndex } from '../../cluster-index.js';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, shaderSource, storageReady, type Dispatch } from '../runtime/runtime.js';
import { tunable } from '../runtime/tuning.js';

/**
 * Tuning knob (bench/run.ts tune --set kernels): threads per workgroup (one workgroup per query head), a power
 * of two. Read-only; withTuning (runtime/tuning.ts) overrides it for a run.
 */
export const selectTuning = tunable({ workgroup: 512 });
export type SelectTuning = typeof selectTuning;

/** The workgroup size used: the knob, within the device's limit. */
function workgroupSize(): number {
  let wg = 1;
  while (wg * 2 <= Math.min(selectTuning.workgroup, deviceLimits().invocations)) wg *= 2;
  return wg;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Largest K the select kernel handles on the active device (workgroup memory 8 * nextPow2(K) bytes). */
export function maxSelectClusters(): number {
  const bytes = deviceLimits().workgroupStorage;
  let kp = 1;
  while (8 * kp * 2 <= bytes) kp <<= 1;
  return kp;
}

type Mode = 'score' | 'ranked';

/**
 * WGSL: the cut's last stage, shared by the select kernels. Every output slot j < n (of a workgroup of WG
 * invocations t, for query head h on KV head g) finds the rank holding it by a binary search of the ranks'
 * inclusive ends `ends[0..count-1]` (workgroup memory, u32), and writes its token:
 * sortedTokens[g, offsets[g, ids[r]] + j - start_r] into tokens[h, j]. Needs K, N, n, h, g, t, WG in scope.
 *
 * With `pipelined`, the rank's offset - start is read from workgroup memory (`pipelined.rel`, u32, wrapping:
 * the caller fills it for ranks 0..count-1), and each invocation takes `pipelined.slots` slots at once, their
 * sortedTokens loads issued before any store: one global latency per that many slots instead of two per slot.
 */
export function slotTokens(ends: string, ids: string, count: string, pipelined?: { rel: string; slots: number }): string {
  const rankOf = (j: string, r: string) => `    var lo_${r} = 0u;
    var hi_${r} = ${count};
    while (lo_${r} < hi_${r}) {
      let mid = (lo_${r} + hi_${r}) / 2u;
      if (${ends}[mid] <= ${j}) { lo_${r} = mid + 1u; } else { hi_${r} = mid; }
    }
    let ${r} = min(lo_${r}, ${count} - 1u);`;
  if (pipelined) {
    const U = pipelined.slots;
    const us = Array.from({ length: U }, (_, u) => u);
    return `  for (var j0 = t; j0 < n; j0 += WG * ${U}u) {
${us.map((u) => `    let j_${u} = j0 + ${u}u * WG;
    let ok_${u} = j_${u} < n;
${rankOf(`j_${u}`, `r_${u}`)}`).join('\n')}
${us.map((u) => `    let tok_${u} = sortedTokens[select(0u, g * N + ${pipelined.rel}[r_${u}] + j_${u}, ok_${u})];`).join('\n')}
${us.map((u) => `    if (ok_${u}) { tokens[h * n + j_${u}] = tok_${u}; }`).join('\n')}
  }`;
  }
  return `  for (var j = t; j < n; j += WG) {
    // rank holding slot j: the number of ranks whose inclusive end is <= j
${rankOf('j', 'r')}
    let start = select(0u, ${ends}[max(r, 1u) - 1u], r > 0u);
    let c = ${ids}[r];
    tokens[h * n + j] = sortedTokens[g * N + u32(offsets[g * K + c]) + (j - start)];
  }`;
}

/**
 * WGSL of the select kernel.
 *   mode 'score'   ranks from q [H, D] . centroids [G, K, D]; 'ranked' reads the ranking [H, K] instead
 *   full           also writes ranked [H, K] and taken [H, K] (else only tokens [H, n])
 * Bindings: 0 params; score: 1 q, 2 centroids; ranked: 1 rankedIn; then sizes, offsets, sortedTokens,
 * tokens (out), [ranked (out), taken (out)].
 */
export function selectShader(mode: Mode, full: boolean, K: number, D: number, WG = workgroupSize()): string {
  return shaderSource(`select:${mode}:${full}:${K}:${D}:${WG}`, () => selectSource(mode, full, K, D, WG));
}

/** Generates selectShader's source (memoised by selectShader). */
function selectSource(mode: Mode, full: boolean, K: number, D: number, WG: number): string {
  const KP = nextPow2(Math.max(K, 1));
  const vec = D % 4 === 0;
  const DV = vec ? D / 4 : D;
  const V = vec ? 'vec4<f32>' : 'f32';
  const CH = Math.max(1, KP / WG);
  const TA = KP / CH;
  const inputs =
    mode === 'score'
      ? `@group(0) @binding(1) var<storage, read> q: array<${V}>;
@group(0) @binding(2) var<storage, read> centroids: array<${V}>;`
      : `@group(0) @binding(1) var<storage, read> rankedIn: array<i32>;`;
  const b = mode === 'score' ? 3 : 2;
  const outputs = `@group(0) @binding(${b + 3}) var<storage, read_write> tokens: array<i32>;
${full ? `@group(0) @binding(${b + 4}) var<storage, read_write> ranked: array<i32>;
@group(0) @binding(${b + 5}) var<storage, read_write> taken: array<i32>;` : ''}`;
  const rankStage =
    mode === 'score'
      ? `  for (var c = t; c < KP; c += WG) {
    var key = 0u; // padding sorts after every real cluster (key 0, larger id)
    if (c < K) {
      var acc = ${V}(0.0);
      let qb = h * DV;
      let cb = (g * K + c) * DV;
      for (var i = 0u; i < DV; i++) { acc += q[qb + i] * centroids[cb + i]; }
      key = orderKey(${vec ? 'acc.x + acc.y + acc.z + acc.w' : 'acc'});
    }
    keys[c] = key;
    ids[c] = c;
  }
  workgroupBarrier();
  // bitonic sort of (key, id): key descending, id ascending
  for (var k = 2u; k <= KP; k <<= 1u) {
    for (var j = k >> 1u; j > 0u; j >>= 1u) {
      for (var p = t; p < KP / 2u; p += WG) {
        let l = 2u * j * (p / j) + p % j;
        let r = l + j;
        let kl = keys[l];
        let kr = keys[r];
        let il = ids[l];
        let ir = ids[r];
        let rFirst = kr > kl || (kr == kl && ir < il);
        let lFirst = kl > kr || (kl == kr && il < ir);
        if (select(lFirst, rFirst, (l & k) == 0u)) {
          keys[l] = kr;
          keys[r] = kl;
          ids[l] = ir;
          ids[r] = il;
        }
      }
      workgroupBarrier();
    }
  }`
      : `  for (var c = t; c < KP; c += WG) { ids[c] = select(c, u32(rankedIn[h * K + min(c, K - 1u)]), c < K); }
  workgroupBarrier();`;
  return /* wgsl */ `
struct Params { heads: u32, group: u32, clusters: u32, tokens: u32, take: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
${inputs}
@group(0) @binding(${b}) var<storage, read> sizes: array<i32>;
@group(0) @binding(${b + 1}) var<storage, read> offsets: array<i32>;
@group(0) @binding(${b + 2}) var<storage, read> sortedTokens: array<i32>;
${outputs}

const KP: u32 = ${KP}u;
const WG: u32 = ${WG}u;
const DV: u32 = ${DV}u;
const CH: u32 = ${CH}u;
const TA: u32 = ${TA}u;
var<workgroup> keys: array<u32, KP>;
var<workgroup> ids: array<u32, KP>;

// order-preserving map of a float to u32 (-0 as +0, so that they tie as floats do)
fn orderKey(s: f32) -> u32 {
  let bits = bitcast<u32>(select(s, 0.0, s == 0.0));
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let g = h / P.group;
  let K = P.clusters;
  let N = P.tokens;
  let n = P.take;
${rankStage}
  // cluster sizes in rank order (padding: 0), then an in-place inclusive prefix sum
  for (var r = t; r < KP; r += WG) { keys[r] = select(0u, u32(sizes[g * K + min(ids[r], K - 1u)]), r < K); }
  workgroupBarrier();
  if (t < TA) {
    var run = 0u;
    for (var i = 0u; i < CH; i++) { run += keys[t * CH + i]; keys[t * CH + i] = run; }
  }
  workgroupBarrier();
  for (var d = 1u; d < TA; d <<= 1u) {
    var v = 0u;
    if (t < TA && t >= d) { v = keys[(t - d + 1u) * CH - 1u]; }
    workgroupBarrier();
    if (t < TA) { keys[(t + 1u) * CH - 1u] += v; }
    workgroupBarrier();
  }
  if (CH > 1u && t < TA && t > 0u) {
    let base = keys[t * CH - 1u];
    for (var i = 0u; i + 1u < CH; i++) { keys[t * CH + i] += base; }
  }
  workgroupBarrier();
${full ? `  for (var r = t; r < K; r += WG) {
    let end = keys[r];
    let start = select(0u, keys[max(r, 1u) - 1u], r > 0u);
    ranked[h * K + r] = i32(ids[r]);
    taken[h * K + r] = select(0, i32(min(n - start, end - start)), n > start);
  }` : ''}
${slotTokens('keys', 'ids', 'K')}
}
`;
}

/** rankedSizes[h, r] = sizes[g(h), ranked[h, r]]: bindings 0 params, 1 ranked, 2 sizes, 3 out. */
export function rankedSizesShader(): string {
  return /* wgsl */ `
struct Params { heads: u32, group: u32, clusters: u32, pad: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ranked: array<i32>;
@group(0) @binding(2) var<storage, read> sizes: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.heads * P.clusters) { return; }
  let h = i / P.clusters;
  out[i] = sizes[(h / P.group) * P.clusters + u32(ranked[i])];
}
`;
}

export interface WgslSelection {
  tokens: tf.Tensor2D;
  ranked: tf.Tensor2D;
  taken: tf.Tensor2D;
  rankedSizes: tf.Tensor2D;
}

interface IndexBuffers {
  sizes: GPUBuffer;
  offsets: GPUBuffer;
  sorted: GPUBuffer;
  owned: tf.Tensor[];
}

function indexBuffers(index: ClusterIndex): IndexBuffers {
  const owned: tf.Tensor[] = [];
  const ready = (t: tf.Tensor) => {
    const r = storageReady(t, 'i32');
    if (r.owned) owned.push(r.owned);
    return r.tensor;
  };
  // an index over no tokens has a [G, 0] sortedTokens: bind a stand-in (never read: no slot is taken)
  const sorted = index.tokens > 0 ? bufferOf(ready(index.sortedTokens), 'i32') : scratchBuffer(16);
  return { sizes: bufferOf(ready(index.sizes), 'i32'), offsets: bufferOf(ready(index.offsets), 'i32'), sorted, owned };
}

/** Whether the select kernel handles K clusters on this device. */
export function selectFits(K: number): boolean {
  return K >= 1 && K <= maxSelectClusters();
}

/**
 * The select dispatch for the fused decode step: writes the token list [H, n] into `tokens` (a buffer of at
 * least H n int32), n = min(budget, N). Returns the dispatch and what to dispose after recording.
 */
export function selectTokensDispatch(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, n: number, tokens: GPUBuffer): { dispatch: Dispatch; owned: tf.Tensor[]; scratch: GPUBuffer[] } {
  const [H, D] = q.shape;
  const [G, K] = centroids.shape;
  const ib = indexBuffers(index);
  const qr = storageReady(q, 'f32');
  const cr = storageReady(centroids, 'f32');
  const owned = [...ib.owned, ...[qr.owned, cr.owned].filter((t): t is tf.Tensor => !!t)];
  return {
    dispatch: {
      code: selectShader('score', false, K, D),
      uniforms: [H, H / G, K, index.tokens, n],
      buffers: [bufferOf(qr.tensor, 'f32'), bufferOf(cr.tensor, 'f32'), ib.sizes, ib.offsets, ib.sorted, tokens],
      workgroups: [H],
    },
    owned,
    scratch: index.tokens > 0 ? [] : [ib.sorted],
  };
}

/** selectClusters on WGSL: tokens [H, n], ranked, taken, rankedSizes [H, K]. K >= 1, selectFits(K). */
export function selectClustersWgsl(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, n: number): WgslSelection {
  const [H, D] = q.shape;
  const [G, K] = centroids.shape;
  const ib = indexBuffers(index);
  const qr = storageReady(q, 'f32');
  const cr = storageReady(centroids, 'f32');
  const tokens = n > 0 ? outputTensor<tf.Rank.R2>([H, n], 'int32') : undefined;
  const tokenBuffer = tokens ? tokens.buffer : scratchBuffer(16);
  const ranked = outputTensor<tf.Rank.R2>([H, K], 'int32');
  const taken = outputTensor<tf.Rank.R2>([H, K], 'int32');
  const rankedSizes = outputTensor<tf.Rank.R2>([H, K], 'int32');
  const scratch = [...(tokens ? [] : [tokenBuffer]), ...(index.tokens > 0 ? [] : [ib.sorted])];
  record(
    [
      { code: selectShader('score', true, K, D), uniforms: [H, H / G, K, index.tokens, n], buffers: [bufferOf(qr.tensor, 'f32'), bufferOf(cr.tensor, 'f32'), ib.sizes, ib.offsets, ib.sorted, tokenBuffer, ranked.buffer, taken.buffer], workgroups: [H] },
      { code: rankedSizesShader(), uniforms: [H, H / G, K], buffers: [ranked.buffer, ib.sizes, rankedSizes.buffer], workgroups: [Math.ceil((H * K) / 256)] },
    ],
    scratch,
  );
  tf.dispose([...ib.owned, qr.owned, cr.owned].filter((t): t is tf.Tensor => !!t));
  return { tokens: tokens ? tokens.tensor : (tf.zeros([H, 0], 'int32') as tf.Tensor2D), ranked: ranked.tensor, taken: taken.tensor, rankedSizes: rankedSizes.tensor };
}

/** rankedTokens on WGSL: token positions [H, n] of a given ranking [H, K] int32. K >= 1, n >= 1. */
export function rankedTokensWgsl(ranked: tf.Tensor2D, index: ClusterIndex, n: number): tf.Tensor2D {
  const [H, K] = ranked.shape;
  const G = index.sizes.shape[0];
  const ib = indexBuffers(index);
  const rr = storageReady(ranked, 'i32');
  const tokens = outputTensor<tf.Rank.R2>([H, n], 'int32');
  record(
    [{ code: selectShader('ranked', false, K, 1), uniforms: [H, H / G, K, index.tokens, n], buffers: [bufferOf(rr.tensor, 'i32'), ib.sizes, ib.offsets, ib.sorted, tokens.buffer], workgroups: [H] }],
    index.tokens > 0 ? [] : [ib.sorted],
  );
  tf.dispose([...ib.owned, rr.owned].filter((t): t is tf.Tensor => !!t));
  return tokens.tensor;
}

/** The token list only [H, n] (one dispatch). K >= 1, n >= 1, selectFits(K). */
export function selectTokensWgsl(q: tf.Tensor2D, centroids: tf.Tensor3D, index: ClusterIndex, n: number): tf.Tensor2D {
  const tokens = outputTensor<tf.Rank.R2>([q.shape[0], n], 'int32');
  const { dispatch, owned, scratch } = selectTokensDispatch(q, centroids, index, n, tokens.buffer);
  record([dispatch], scratch);
  tf.dispose(owned);
  return tokens.tensor;
}
