/**
 * Cosine K-means (kmeans.ts's rule: argmax cosine, ties to the lowest id; mean of the members' raw keys; an
 * empty cluster keeps its centroid; labels recomputed after the last update) in three dispatches per
 * iteration, all iterations in one compute pass:
 *
 *   assign   labels = argmax_c keys . normalised centroid_c: a tiled matrix product (by default 128 keys x
 *            128 clusters per workgroup, 8 x 8 per thread) whose epilogue keeps each key's running argmax, so
 *            the [N, k] scores never reach memory. The key's own normalisation is a positive per-key scale
 *            and cannot change its argmax, so the kernel skips it (a zero key scores 0 everywhere and joins
 *            cluster 0, as in the op chain).
 *   sums     segment sums without a one-hot: one workgroup per (KV head, 16 clusters, part of the keys)
 *            walks the labels of its part in order (a block at a time through workgroup memory) and adds
 *            its clusters' members, one thread per component (deterministic order: no float atomics)
 *   update   per cluster: add the parts in order, divide by the count (or keep the old centroid), and
 *            write the normalised centroid for the next assignment
 * or, with kmeansTuning.sums 'sorted', the counting-sort update of sorted-sums.ts (four dispatches, each key
 * read once; slower on the H200 as measured, see kmeansTuning). Keys may be f32 or packed f16 (half-tensor.ts): the assignment's tile
 * loads and the sums decode them; every product and sum is f32. With subgroups (capabilities.ts) the
 * assignment's argmax meets across the 16 column threads of a row by subgroup shuffles instead of a pass
 * through workgroup memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isHalf, kvShape, type KvDtype, type KvTensor } from '../../half-tensor.js';
import { subgroupMode, type SubgroupMode } from '../runtime/capabilities.js';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, shaderSource, storageReady, type Dispatch } from '../runtime/runtime.js';
import { subgroupCode } from '../runtime/subgroups.js';
import { tunable } from '../runtime/tuning.js';
import { sortedSumsBytes, sortedUpdateDispatches } from './sorted-sums.js';

const CB = 16; // clusters per sums workgroup

/**
 * Tuning knobs (bench/run.ts tune --set kernels and --set subgroup measure them; the defaults were chosen on the H200, bench/README.md):
 *   tileRows, tileCols  keys and clusters per thread in the assignment (16 x 16 threads: a workgroup covers
 *                       16 tileRows keys x 16 tileCols clusters per step), 4 or 8 each
 *   depth               components per shared-memory step of the assignment, 8 or 16
 *   parts               parts the keys are split into for the per-part sums (more parts: more workgroups)
 *   sums                'parts' (the per-part sums below) or 'sorted' (sorted-sums.ts)
 *   block               tokens per counting block of the sorted update
 *   subgroupMerge       the assignment's argmax merged by subgroup shuffles where the device has subgroups
 * The H200 run of issue 19 timed K-means with sums 'sorted' and subgroupMerge on (then the defaults): 321 ms
 * (20 iterations, 8 heads x 32K keys, 400 clusters), against 48 ms for these defaults in the earlier run; the
 * cause was not isolated (no device time left), so the defaults are the measured ones (bench/README.md).
 * Read-only; withTuning (runtime/tuning.ts) overrides knobs for a run.
 */
export const kmeansTuning = tunable({ tileRows: 8, tileCols: 8, depth: 8, parts: 16, sums: 'parts' as 'sorted' | 'parts', block: 1024, subgroupMerge: false });
export type KMeansTuning = typeof kmeansTuning;

/**
 * The subgroup mode the assignment's merge uses (16 column threads of a row in one subgroup), if any: the
 * tiles' workgroup memory plus the subgroup index's counter must fit the device.
 */
function mergeMode(TM: number, TN: number, BK: number): SubgroupMode | undefined {
  const mode = kmeansTuning.subgroupMerge ? subgroupMode() : undefined;
  const tiles = 4 * (Math.max(BK * 16 * TM, 16 * TM * 16) + Math.max(BK * 16 * TN, 16 * TM * 16));
  const extra = mode?.kind === 'emulated' ? 4 * 256 : 16;
  return mode && mode.size >= 16 && 256 % mode.size === 0 && tiles + extra <= deviceLimits().workgroupStorage ? mode : undefined;
}

/** assign: bindings 0 params, 1 keys [G, N, d] (f32, or packed f16 words), 2 normalised centroids [G, k, d], 3 labels [G, N]. */
export function assignShader(d: number, TM = kmeansTuning.tileRows, TN = kmeansTuning.tileCols, BK = kmeansTuning.depth, kv: KvDtype = 'f32', merge: SubgroupMode | undefined = mergeMode(TM, TN, BK)): string {
  return shaderSource(`assign:${d}:${TM}:${TN}:${BK}:${kv}:${merge ? `${merge.kind}${merge.size}` : 'wg'}`, () => assignSource(d, TM, TN, BK, kv, merge));
}

/** Generates assignShader's source (memoised by assignShader). */
function assignSource(d: number, TM: number, TN: number, BK: number, kv: KvDtype, merge: SubgroupMode | undefined): string {
  if (![4, 8].includes(TM) || ![4, 8].includes(TN) || ![8, 16].includes(BK)) throw new RangeError(`K-means tiles: tileRows and tileCols 4 or 8, depth 8 or 16 (got ${TM}, ${TN}, ${BK})`);
  const BM = 16 * TM;
  const BN = 16 * TN;
  const VN = TN / 4; // vec4 columns per thread
  const VM = TM / 4; // vec4 rows per thread (reads of the transposed key tile)
  const asFloats = Math.max(BK * BM, BM * 16);
  const bsFloats = Math.max(BK * BN, BM * 16);
  const fma: string[] = [];
  for (let m = 0; m < TM; m++) {
    for (let v = 0; v < VN; v++) fma.push(`acc[${m * VN + v}] += a[${m >> 2}].${'xyzw'[m & 3]} * b[${v}];`);
  }
  const sg = merge ? subgroupCode(merge, 256) : undefined;
  const keyAt = (e: string) => (kv === 'f16' ? `unpack2x16float(keys[(${e}) >> 1u])[(${e}) & 1u]` : `keys[${e}]`);
  // the thread's tile position: from its subgroup lane when the merge uses shuffles (16 aligned lanes of a
  // subgroup then hold one row's 16 column threads, whatever order the invocations form subgroups in)
  const position = sg
    ? `let flat = sgIdx * ${merge!.size}u + sgLane;
  let tr = flat / 16u; // rows tr*TM ..
  let tc = flat % 16u; // columns tc*TN ..`
    : `let tr = t / 16u; // rows tr*TM ..
  let tc = t % 16u; // columns tc*TN ..`;
  const mergeCode = sg
    ? `  // merge the 16 column threads of each row: xor butterfly over lanes 1, 2, 4, 8 (ties to the lower id)
  for (var r = 0u; r < TM; r++) {
    var v = bestV[r];
    var best = bestI[r];
    for (var m = 1u; m < 16u; m <<= 1u) {
      let ov = sgXorF(v, m);
      let oi = sgXorU(best, m);
      if (ov > v || (ov == v && oi < best)) { v = ov; best = oi; }
    }
    if (tc == 0u && row0 + tr * TM + r < N) { labels[g * N + row0 + tr * TM + r] = i32(best); }
  }`
    : `  // merge the 16 column threads of each row: values in As, ids in Bs (as f32 bits)
  for (var r = 0u; r < TM; r++) {
    let at = (tr * TM + r) * 16u + tc;
    As[at / 4u][at % 4u] = bestV[r];
    Bs[at / 4u][at % 4u] = bitcast<f32>(bestI[r]);
  }
  workgroupBarrier();
  for (var row = t; row < BM; row += 256u) {
    if (row0 + row < N) {
      var v = LOWEST;
      var best = 0u;
      for (var j = 0u; j < 16u; j++) {
        let at = row * 16u + j;
        let cv = As[at / 4u][at % 4u];
        let ci = bitcast<u32>(Bs[at / 4u][at % 4u]);
        if (cv > v || (cv == v && ci < best)) { v = cv; best = ci; }
      }
      labels[g * N + row0 + row] = i32(best);
    }
  }`;
  return /* wgsl */ `${sg ? sg.enables : ''}
struct Params { tokens: u32, clusters: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> keys: array<${kv === 'f16' ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> cents: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<i32>;
const D: u32 = ${d}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
const LOWEST: f32 = -3.402823e38;
// As: keys tile transposed [BK][BM]; Bs: centroid tile [BK][BN]; both reused for the argmax merge [BM][16]
var<workgroup> As: array<vec4<f32>, ${asFloats / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${bsFloats / 4}>;
${sg ? sg.decls : ''}
@compute @workgroup_size(256)${sg ? sg.attribute : ''}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32${sg ? sg.params : ''}) {
${sg ? sg.init : ''}
  let N = P.tokens;
  let K = P.clusters;
  let g = wid.y;
  let row0 = wid.x * BM;
  ${position}
  var bestV = array<f32, ${TM}>();
  var bestI = array<u32, ${TM}>();
  for (var r = 0u; r < TM; r++) { bestV[r] = LOWEST; }
  let tiles = (K + BN - 1u) / BN;
  for (var ct = 0u; ct < tiles; ct++) {
    let col0 = ct * BN;
    var acc = array<vec4<f32>, ${TM * VN}>();
    for (var k0 = 0u; k0 < D; k0 += BK) {
      for (var u = 0u; u < (BM * BK) / 256u; u++) {
        let e = t + u * 256u;
        let r = e / BK;
        let c = e % BK;
        var v = 0.0;
        if (row0 + r < N && k0 + c < D) { v = ${keyAt('(g * N + row0 + r) * D + k0 + c')}; }
        As[(c * BM + r) / 4u][r % 4u] = v;
      }
      for (var u = 0u; u < (BN * BK) / 256u; u++) {
        let e = t + u * 256u;
        let r = e / BK;
        let c = e % BK;
        var v = 0.0;
        if (col0 + r < K && k0 + c < D) { v = cents[(g * K + col0 + r) * D + k0 + c]; }
        Bs[(c * BN + r) / 4u][r % 4u] = v;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < BK; kk++) {
        var a = array<vec4<f32>, ${VM}>();
        var b = array<vec4<f32>, ${VN}>();
        for (var v = 0u; v < ${VM}u; v++) { a[v] = As[(kk * BM + tr * TM) / 4u + v]; }
        for (var v = 0u; v < ${VN}u; v++) { b[v] = Bs[(kk * BN + tc * TN) / 4u + v]; }
        ${fma.join('\n        ')}
      }
      workgroupBarrier();
    }
    for (var r = 0u; r < TM; r++) {
      for (var j = 0u; j < TN; j++) {
        let c = col0 + tc * TN + j;
        let s = acc[r * ${VN}u + j / 4u][j % 4u];
        if (c < K && s > bestV[r]) { bestV[r] = s; bestI[r] = c; }
      }
    }
  }
${mergeCode}
}
`;
}

/**
 * sums: bindings 0 params, 1 keys [G, N, d], 2 labels [G, N], 3 psum [G, parts, k, d], 4 pcount [G, parts, k].
 * One workgroup per (CB clusters, KV head, part of the keys), one thread per component: the part's labels
 * come through workgroup memory a block at a time (one coalesced load per thread), then every thread walks
 * the block in order and adds the members of its clusters (the same order on every run: no float atomics).
 */
export function sumsShader(d: number, kv: KvDtype = 'f32'): string {
  return shaderSource(`sums:${d}:${kv}`, () => sumsSource(d, kv));
}

/** Generates sumsShader's source (memoised by sumsShader). */
function sumsSource(d: number, kv: KvDtype): string {
  const WG = Math.min(256, Math.ceil(d / 32) * 32);
  return /* wgsl */ `
struct Params { tokens: u32, clusters: u32, parts: u32, partLen: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> keys: array<${kv === 'f16' ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> psum: array<f32>;
@group(0) @binding(4) var<storage, read_write> pcount: array<i32>;
const D: u32 = ${d}u;
const CB: u32 = ${CB}u;
const WG: u32 = ${WG}u;
var<workgroup> rel: array<u32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let N = P.tokens;
  let K = P.clusters;
  let c0 = wid.x * CB;
  let g = wid.y;
  let part = wid.z;
  let lo = min(N, part * P.partLen);
  let hi = min(N, lo + P.partLen);
  for (var i0 = 0u; i0 < D; i0 += WG) {
    let i = i0 + t;
    var acc = array<f32, CB>();
    var cnt = array<i32, CB>();
    for (var b0 = lo; b0 < hi; b0 += WG) {
      // label relative to this workgroup's first cluster (wraps past CB when below it)
      let n = b0 + t;
      rel[t] = select(0xffffffffu, u32(labels[g * N + min(n, N - 1u)]) - c0, n < hi);
      workgroupBarrier();
      let m = min(WG, hi - b0);
      for (var jj = 0u; jj < m; jj++) {
        let r = rel[jj];
        if (r < CB) {
          var x = 0.0;
          if (i < D) { x = ${kv === 'f16' ? 'unpack2x16float(keys[((g * N + b0 + jj) * D + i) >> 1u])[i & 1u]' : 'keys[(g * N + b0 + jj) * D + i]'}; }
          for (var j = 0u; j < CB; j++) {
            if (j == r) { acc[j] += x; cnt[j] += 1; }
          }
        }
      }
      workgroupBarrier();
    }
    for (var j = 0u; j < CB; j++) {
      let c = c0 + j;
      if (c < K) {
        let slot = (g * P.parts + part) * K + c;
        if (i < D) { psum[slot * D + i] = acc[j]; }
        if (i0 == 0u && t == 0u) { pcount[slot] = cnt[j]; }
      }
    }
  }
}
`;
}

/**
 * update: one workgroup per (cluster, KV head). Bindings 0 params, 1 psum, 2 pcount, 3 old [G, k, d],
 * 4 new [G, k, d], 5 new normalised [G, k, d]. With parts = 0 it only normalises old into both outputs.
 */
export function updateShader(d: number): string {
  return shaderSource(`update:${d}`, () => updateSource(d));
}

/** Generates updateShader's source (memoised by updateShader). */
function updateSource(d: number): string {
  return /* wgsl */ `
struct Params { clusters: u32, parts: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> psum: array<f32>;
@group(0) @binding(2) var<storage, read> pcount: array<i32>;
@group(0) @binding(3) var<storage, read> old: array<f32>;
@group(0) @binding(4) var<storage, read_write> cent: array<f32>;
@group(0) @binding(5) var<storage, read_write> normed: array<f32>;
const D: u32 = ${d}u;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let K = P.clusters;
  let c = wid.x;
  let g = wid.y;
  var count = 0;
  for (var part = 0u; part < P.parts; part++) { count += pcount[(g * P.parts + part) * K + c]; }
  let base = (g * K + c) * D;
  var ss = 0.0;
  for (var i = t; i < D; i += 64u) {
    var x = old[base + i];
    if (count > 0) {
      var s = 0.0;
      for (var part = 0u; part < P.parts; part++) { s += psum[((g * P.parts + part) * K + c) * D + i]; }
      x = s / f32(count);
    }
    cent[base + i] = x;
    ss += x * x;
  }
  red[t] = ss;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] += red[t + w]; }
    workgroupBarrier();
  }
  let scale = 1.0 / max(sqrt(red[0]), 1e-30);
  for (var i = t; i < D; i += 64u) { normed[base + i] = cent[base + i] * scale; }
}
`;
}

/** Whether the kernels handle the shape on this device: keys and the scratch of the update within one binding. */
export function kmeansFits(G: number, N: number, k: number, d: number, kv: KvDtype = 'f32'): boolean {
  const limits = deviceLimits();
  const keyBytes = G * N * d * (kv === 'f16' ? 2 : 4);
  if (keyBytes > limits.maxBinding || d > 4096 || (kv === 'f16' && d % 2 !== 0)) return false;
  if (kmeansTuning.sums === 'sorted') {
    const scratch = sortedSumsBytes(G, N, k, kmeansTuning.block);
    // the histogram and scatter keep one counter per cluster in workgroup memory
    return Object.values(scratch).every((b) => b <= limits.maxBinding) && 4 * k + 1024 <= limits.workgroupStorage;
  }
  const parts = Math.max(1, Math.min(kmeansTuning.parts, N));
  return G * parts * k * d * 4 <= limits.maxBinding;
}

/**
 * Bytes of the pooled scratch cosineKMeansWgsl acquires for G heads of N keys into k clusters of d (two raw
 * and one normalised centroid buffer, and the update's sums), released after its submit into tfjs's pool.
 */
export function kmeansScratchBytes(G: number, N: number, k: number, d: number): number {
  const centroids = 3 * G * k * d * 4;
  if (kmeansTuning.sums === 'sorted') return centroids + Object.values(sortedSumsBytes(G, N, k, kmeansTuning.block)).reduce((a, b) => a + b, 0) + 32;
  const parts = Math.max(1, Math.min(kmeansTuning.parts, N));
  return centroids + G * parts * k * (d + 1) * 4;
}

export interface KMeansWgslResult {
  centroids: tf.Tensor3D;
  labels: tf.Tensor2D;
}

/**
 * cosineKMeans on WGSL. keys [G, N, d] float32 or packed f16; start [G, k, d] the initial centroids
 * (borrowed: kmeans.ts draws them as the op chain does). Every iteration is recorded in one compute pass.
 */
export function cosineKMeansWgsl(keys: KvTensor, k: number, iters: number, start: tf.Tensor3D): KMeansWgslResult {
  const [G, N, d] = kvShape(keys);
  const kv: KvDtype = isHalf(keys) ? 'f16' : 'f32';
  const kr = isHalf(keys) ? storageReady(keys.packed, 'i32') : storageReady(keys, 'f32');
  const sr = storageReady(start, 'f32');
  const keysBuf = bufferOf(kr.tensor, kv === 'f16' ? 'i32' : 'f32');
  const bytes = G * k * d * 4;
  // ping-pong raw and normalised centroids; the final raw centroids land in the output tensor
  const out = outputTensor<tf.Rank.R3>([G, k, d], 'float32');
  const labels = outputTensor<tf.Rank.R2>([G, N], 'int32');
  const raw = [scratchBuffer(bytes), scratchBuffer(bytes)];
  const normed = scratchBuffer(bytes);
  const dispatches: Dispatch[] = [];
  const assign: Dispatch = { code: assignShader(d, kmeansTuning.tileRows, kmeansTuning.tileCols, kmeansTuning.depth, kv), uniforms: [N, k], buffers: [keysBuf, normed, labels.buffer], workgroups: [Math.ceil(N / (16 * kmeansTuning.tileRows)), G] };
  const scratch: GPUBuffer[] = [...raw, normed];
  let updates: (from: GPUBuffer, to: GPUBuffer) => Dispatch[];
  // the initial normalisation: the per-part update with no parts copies and normalises
  const psum = scratchBuffer(kmeansTuning.sums === 'parts' ? G * Math.max(1, Math.min(kmeansTuning.parts, N)) * k * d * 4 : 16);
  const pcount = scratchBuffer(kmeansTuning.sums === 'parts' ? G * Math.max(1, Math.min(kmeansTuning.parts, N)) * k * 4 : 16);
  scratch.push(psum, pcount);
  const normalise = (from: GPUBuffer, to: GPUBuffer): Dispatch => ({ code: updateShader(d), uniforms: [k, 0], buffers: [psum, pcount, from, to, normed], workgroups: [k, G] });
  if (kmeansTuning.sums === 'sorted') {
    const sizes = sortedSumsBytes(G, N, k, kmeansTuning.block);
    const b = { blockCount: scratchBuffer(sizes.blockCount), blockStart: scratchBuffer(sizes.blockStart), counts: scratchBuffer(sizes.counts), starts: scratchBuffer(sizes.starts), order: scratchBuffer(sizes.order) };
    scratch.push(...Object.values(b));
    updates = (from, to) => sortedUpdateDispatches(keysBuf, kv, labels.buffer, b, from, to, normed, G, N, k, d, kmeansTuning.block);
  } else {
    const parts = Math.max(1, Math.min(kmeansTuning.parts, N));
    const sums: Dispatch = { code: sumsShader(d, kv), uniforms: [N, k, parts, Math.ceil(N / parts)], buffers: [keysBuf, labels.buffer, psum, pcount], workgroups: [Math.ceil(k / CB), G, parts] };
    updates = (from, to) => [sums, { code: updateShader(d), uniforms: [k, parts], buffers: [psum, pcount, from, to, normed], workgroups: [k, G] }];
  }
  // normalise the initial centroids (copying them into the first raw buffer, or the output when iters = 0)
  let cur = iters === 0 ? out.buffer : raw[0];
  dispatches.push(normalise(bufferOf(sr.tensor, 'f32'), cur));
  for (let it = 0; it < iters; it++) {
    const next = it === iters - 1 ? out.buffer : raw[(it + 1) % 2];
    dispatches.push(assign, ...updates(cur, next));
    cur = next;
  }
  dispatches.push(assign);
  record(dispatches, scratch);
  tf.dispose([kr.owned, sr.owned].filter((t): t is tf.Tensor => !!t));
  return { centroids: out.tensor, labels: labels.tensor };
}
