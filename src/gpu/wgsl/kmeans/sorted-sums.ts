/**
 * K-means update by a counting sort of the labels (kmeansTuning.sums 'sorted'): four dispatches per
 * iteration, no float atomics, every cluster's members summed in ascending token order (deterministic):
 *
 *   histogram  per (block of B tokens, KV head): members of each cluster in the block (workgroup atomics
 *              on integers), written as blockCount [G, blocks, k]
 *   offsets    per KV head: each cluster's start in the sorted order (exclusive prefix over clusters of the
 *              totals) plus its count in the blocks before (prefix over blocks): blockStart [G, blocks, k];
 *              the totals as counts [G, k]
 *   scatter    per (block, KV head): every token's slot = blockStart of its cluster + its rank among the
 *              block's earlier tokens of that cluster: order [G, N], tokens grouped by cluster, ascending
 *   update     per (cluster, KV head): the members' raw keys added in order (one thread per component), the
 *              mean (or the old centroid when empty), and its normalised copy for the next assignment
 *
 * Against the per-part sums (kmeans-passes.ts sumsShader), which walk all labels once per 16 clusters, each
 * label is read three times and each key once.
 */
import type { KvDtype } from '../../half-tensor.js';
import { shaderSource, type Dispatch } from '../runtime/runtime.js';

const WG = 256;

/** histogram: bindings 0 params {tokens, clusters, block, blocks}, 1 labels [G, N], 2 blockCount [G, blocks, k]. */
export function histogramShader(k: number): string {
  return shaderSource(`km-hist:${k}`, () => /* wgsl */ `
struct Params { tokens: u32, clusters: u32, block: u32, blocks: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> blockCount: array<u32>;
var<workgroup> cnt: array<atomic<u32>, ${k}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wid.x;
  let g = wid.y;
  let N = P.tokens;
  let lo = b * P.block;
  let hi = min(N, lo + P.block);
  for (var n = lo + t; n < hi; n += ${WG}u) { atomicAdd(&cnt[u32(labels[g * N + n])], 1u); }
  workgroupBarrier();
  for (var c = t; c < P.clusters; c += ${WG}u) { blockCount[(g * P.blocks + b) * P.clusters + c] = atomicLoad(&cnt[c]); }
}
`);
}

/** offsets: bindings 0 params, 1 blockCount, 2 blockStart [G, blocks, k], 3 counts [G, k] (i32), 4 starts [G, k]. */
export function offsetsShader(k: number): string {
  const CH = Math.ceil(k / WG);
  return shaderSource(`km-offsets:${k}`, () => /* wgsl */ `
struct Params { tokens: u32, clusters: u32, block: u32, blocks: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> blockCount: array<u32>;
@group(0) @binding(2) var<storage, read_write> blockStart: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<i32>;
@group(0) @binding(4) var<storage, read_write> starts: array<u32>;
const CH: u32 = ${CH}u;
var<workgroup> total: array<u32, ${CH * WG}>;
var<workgroup> scan: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let g = wid.x;
  let K = P.clusters;
  // per cluster: running count over the blocks (each block's count before it)
  for (var c = t; c < K; c += ${WG}u) {
    var run = 0u;
    for (var b = 0u; b < P.blocks; b++) {
      let at = (g * P.blocks + b) * K + c;
      let x = blockCount[at];
      blockStart[at] = run;
      run += x;
    }
    total[c] = run;
    counts[g * K + c] = i32(run);
  }
  workgroupBarrier();
  // exclusive prefix of the totals over clusters: a block of CH clusters per thread, then a scan of the blocks
  var own = 0u;
  for (var i = 0u; i < CH; i++) {
    let c = t * CH + i;
    if (c < K) { own += total[c]; }
  }
  scan[t] = own;
  workgroupBarrier();
  for (var w = 1u; w < ${WG}u; w <<= 1u) {
    var v = 0u;
    if (t >= w) { v = scan[t - w]; }
    workgroupBarrier();
    scan[t] += v;
    workgroupBarrier();
  }
  var base = scan[t] - own;
  for (var i = 0u; i < CH; i++) {
    let c = t * CH + i;
    if (c < K) {
      let size = total[c];
      total[c] = base; // from here on: the cluster's start
      starts[g * K + c] = base;
      base += size;
    }
  }
  workgroupBarrier();
  for (var c = t; c < K; c += ${WG}u) {
    let first = total[c];
    for (var b = 0u; b < P.blocks; b++) { blockStart[(g * P.blocks + b) * K + c] += first; }
  }
}
`);
}

/** scatter: bindings 0 params, 1 labels [G, N], 2 blockStart, 3 order [G, N]. */
export function scatterShader(k: number): string {
  return shaderSource(`km-scatter:${k}`, () => /* wgsl */ `
struct Params { tokens: u32, clusters: u32, block: u32, blocks: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> blockStart: array<u32>;
@group(0) @binding(3) var<storage, read_write> order: array<u32>;
var<workgroup> lab: array<u32, ${WG}>;
var<workgroup> seen: array<u32, ${k}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wid.x;
  let g = wid.y;
  let N = P.tokens;
  let K = P.clusters;
  let lo = b * P.block;
  let rounds = (P.block + ${WG - 1}u) / ${WG}u;
  for (var r = 0u; r < rounds; r++) {
    let n = lo + r * ${WG}u + t;
    let inBlock = n < min(N, lo + P.block);
    var c = 0xffffffffu;
    if (inBlock) { c = u32(labels[g * N + n]); }
    lab[t] = c;
    workgroupBarrier();
    // rank among this round's earlier tokens of the same cluster, and whether a later one follows
    var before = 0u;
    var after = 0u;
    for (var j = 0u; j < ${WG}u; j++) {
      let same = lab[j] == c;
      before += select(0u, 1u, same && j < t);
      after += select(0u, 1u, same && j > t);
    }
    if (inBlock) { order[g * N + blockStart[(g * P.blocks + b) * K + c] + seen[c] + before] = n; }
    workgroupBarrier();
    if (inBlock && after == 0u) { seen[c] += before + 1u; }
    workgroupBarrier();
  }
}
`);
}

/**
 * update: one workgroup per (cluster, KV head). Bindings 0 params {tokens, clusters}, 1 keys [G, N, d]
 * (f32, or packed f16 words), 2 order [G, N], 3 counts [G, k], 4 starts [G, k], 5 old [G, k, d],
 * 6 new [G, k, d], 7 new normalised [G, k, d].
 */
export function sortedUpdateShader(d: number, kv: KvDtype): string {
  const T = Math.min(256, Math.max(32, Math.ceil(d / 32) * 32));
  const key = kv === 'f16' ? (row: string) => `unpack2x16float(keys[(${row} * D + i) >> 1u])[i & 1u]` : (row: string) => `keys[${row} * D + i]`;
  return shaderSource(`km-update:${d}:${kv}`, () => /* wgsl */ `
struct Params { tokens: u32, clusters: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> keys: array<${kv === 'f16' ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<i32>;
@group(0) @binding(4) var<storage, read> starts: array<u32>;
@group(0) @binding(5) var<storage, read> old: array<f32>;
@group(0) @binding(6) var<storage, read_write> cent: array<f32>;
@group(0) @binding(7) var<storage, read_write> normed: array<f32>;
const D: u32 = ${d}u;
var<workgroup> red: array<f32, ${T}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let K = P.clusters;
  let N = P.tokens;
  let c = wid.x;
  let g = wid.y;
  let count = u32(counts[g * K + c]);
  let first = g * N + starts[g * K + c];
  let base = (g * K + c) * D;
  var ss = 0.0;
  for (var i = t; i < D; i += ${T}u) {
    var x = old[base + i];
    if (count > 0u) {
      // members in ascending token order; four rows in flight, added one after another
      var s = 0.0;
      var m = 0u;
      for (; m + 4u <= count; m += 4u) {
        let r0 = g * N + order[first + m];
        let r1 = g * N + order[first + m + 1u];
        let r2 = g * N + order[first + m + 2u];
        let r3 = g * N + order[first + m + 3u];
        let x0 = ${key('r0')};
        let x1 = ${key('r1')};
        let x2 = ${key('r2')};
        let x3 = ${key('r3')};
        s += x0;
        s += x1;
        s += x2;
        s += x3;
      }
      for (; m < count; m++) { s += ${key('(g * N + order[first + m])')}; }
      x = s / f32(count);
    }
    cent[base + i] = x;
    ss += x * x;
  }
  red[t] = ss;
  workgroupBarrier();
  for (var w = ${T / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] += red[t + w]; }
    workgroupBarrier();
  }
  let scale = 1.0 / max(sqrt(red[0]), 1e-30);
  for (var i = t; i < D; i += ${T}u) { normed[base + i] = cent[base + i] * scale; }
}
`);
}

export interface SortedSumsBuffers {
  blockCount: GPUBuffer;
  blockStart: GPUBuffer;
  counts: GPUBuffer;
  starts: GPUBuffer;
  order: GPUBuffer;
}

/** Scratch sizes (bytes) for G heads, N tokens, k clusters, blocks of `block` tokens. */
export function sortedSumsBytes(G: number, N: number, k: number, block: number): Record<keyof SortedSumsBuffers, number> {
  const blocks = Math.ceil(N / block);
  return { blockCount: G * blocks * k * 4, blockStart: G * blocks * k * 4, counts: G * k * 4, starts: G * k * 4, order: G * N * 4 };
}

/** One iteration's update dispatches after an assignment wrote `labels`: old -> next (raw) and normed. */
export function sortedUpdateDispatches(keys: GPUBuffer, kv: KvDtype, labels: GPUBuffer, b: SortedSumsBuffers, old: GPUBuffer, next: GPUBuffer, normed: GPUBuffer, G: number, N: number, k: number, d: number, block: number): Dispatch[] {
  const blocks = Math.ceil(N / block);
  const u = [N, k, block, blocks];
  return [
    { code: histogramShader(k), uniforms: u, buffers: [labels, b.blockCount], workgroups: [blocks, G] },
    { code: offsetsShader(k), uniforms: u, buffers: [b.blockCount, b.blockStart, b.counts, b.starts], workgroups: [G] },
    { code: scatterShader(k), uniforms: u, buffers: [labels, b.blockStart, b.order], workgroups: [blocks, G] },
    { code: sortedUpdateShader(d, kv), uniforms: [N, k], buffers: [keys, b.order, b.counts, b.starts, old, next, normed], workgroups: [k, G] },
  ];
}
