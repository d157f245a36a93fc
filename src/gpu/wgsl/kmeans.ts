/**
 * Cosine K-means (kmeans.ts's rule: argmax cosine, ties to the lowest id; mean of the members' raw keys; an
 * empty cluster keeps its centroid; labels recomputed after the last update) in three dispatches per
 * iteration, all iterations in one compute pass:
 *
 *   assign   labels = argmax_c keys . normalised centroid_c: a tiled matrix product (128 keys x 64
 *            clusters per workgroup, 8 x 4 per thread) whose epilogue keeps each key's running argmax, so
 *            the [N, k] scores never reach memory. The key's own normalisation is a positive per-key scale
 *            and cannot change its argmax, so the kernel skips it (a zero key scores 0 everywhere and joins
 *            cluster 0, as in the op chain).
 *   sums     segment sums without a one-hot: one workgroup per (KV head, 8 clusters, part of the keys)
 *            walks the labels of its part in order and adds its clusters' members, one thread per
 *            component (deterministic order: no float atomics)
 *   update   per cluster: add the parts in order, divide by the count (or keep the old centroid), and
 *            write the normalised centroid for the next assignment
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, storageReady, type Dispatch } from './runtime.js';

const BM = 128; // keys per assign workgroup
const BN = 64; // clusters per tile
const BK = 16; // components per step
const CB = 8; // clusters per sums workgroup

/** Parts the keys are split into for the segment sums (more parts: more workgroups, more partials). */
export const kmeansTuning = { parts: 4 };

/** assign: bindings 0 params, 1 keys [G, N, d], 2 normalised centroids [G, k, d], 3 labels [G, N]. */
export function assignShader(d: number): string {
  return /* wgsl */ `
struct Params { tokens: u32, clusters: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> keys: array<f32>;
@group(0) @binding(2) var<storage, read> cents: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<i32>;
const D: u32 = ${d}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const LOWEST: f32 = -3.402823e38;
// As: keys tile transposed [BK][BM]; Bs: centroid tile [BK][BN], reused for the argmax merge
var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BM) / 4}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let N = P.tokens;
  let K = P.clusters;
  let g = wid.y;
  let row0 = wid.x * BM;
  let tr = t / 16u; // rows tr*8 .. tr*8+7
  let tc = t % 16u; // columns tc*4 .. tc*4+3
  var bestV: array<f32, 8>;
  var bestI: array<u32, 8>;
  for (var r = 0u; r < 8u; r++) { bestV[r] = LOWEST; }
  let tiles = (K + BN - 1u) / BN;
  for (var ct = 0u; ct < tiles; ct++) {
    let col0 = ct * BN;
    var acc: array<vec4<f32>, 8>;
    for (var k0 = 0u; k0 < D; k0 += BK) {
      for (var u = 0u; u < (BM * BK) / 256u; u++) {
        let e = t + u * 256u;
        let r = e / BK;
        let c = e % BK;
        var v = 0.0;
        if (row0 + r < N && k0 + c < D) { v = keys[(g * N + row0 + r) * D + k0 + c]; }
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
        let a0 = As[(kk * BM + tr * 8u) / 4u];
        let a1 = As[(kk * BM + tr * 8u) / 4u + 1u];
        let b = Bs[(kk * BN + tc * 4u) / 4u];
        acc[0] += a0.x * b;
        acc[1] += a0.y * b;
        acc[2] += a0.z * b;
        acc[3] += a0.w * b;
        acc[4] += a1.x * b;
        acc[5] += a1.y * b;
        acc[6] += a1.z * b;
        acc[7] += a1.w * b;
      }
      workgroupBarrier();
    }
    for (var r = 0u; r < 8u; r++) {
      for (var j = 0u; j < 4u; j++) {
        let c = col0 + tc * 4u + j;
        if (c < K && acc[r][j] > bestV[r]) { bestV[r] = acc[r][j]; bestI[r] = c; }
      }
    }
  }
  // merge the 16 column threads of each row: values in As, ids in Bs (as f32 bits)
  for (var r = 0u; r < 8u; r++) {
    let at = (tr * 8u + r) * 16u + tc;
    As[at / 4u][at % 4u] = bestV[r];
    Bs[at / 4u][at % 4u] = bitcast<f32>(bestI[r]);
  }
  workgroupBarrier();
  if (t < BM && row0 + t < N) {
    var v = LOWEST;
    var best = 0u;
    for (var j = 0u; j < 16u; j++) {
      let at = t * 16u + j;
      let cv = As[at / 4u][at % 4u];
      let ci = bitcast<u32>(Bs[at / 4u][at % 4u]);
      if (cv > v || (cv == v && ci < best)) { v = cv; best = ci; }
    }
    labels[g * N + row0 + t] = i32(best);
  }
}
`;
}

/** sums: bindings 0 params, 1 keys [G, N, d], 2 labels [G, N], 3 psum [G, parts, k, d], 4 pcount [G, parts, k]. */
export function sumsShader(d: number): string {
  const WG = Math.min(256, Math.ceil(d / 32) * 32);
  return /* wgsl */ `
struct Params { tokens: u32, clusters: u32, parts: u32, partLen: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> keys: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> psum: array<f32>;
@group(0) @binding(4) var<storage, read_write> pcount: array<i32>;
const D: u32 = ${d}u;
const CB: u32 = ${CB}u;
const WG: u32 = ${WG}u;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let N = P.tokens;
  let K = P.clusters;
  let c0 = wid.x * CB;
  let g = wid.y;
  let part = wid.z;
  let lo = part * P.partLen;
  let hi = min(N, lo + P.partLen);
  for (var i0 = 0u; i0 < D; i0 += WG) {
    let i = i0 + t;
    var acc: array<f32, CB>;
    var cnt: array<i32, CB>;
    for (var n = lo; n < hi; n++) {
      let rel = u32(labels[g * N + n]) - c0;
      if (rel < CB) {
        var x = 0.0;
        if (i < D) { x = keys[(g * N + n) * D + i]; }
        for (var j = 0u; j < CB; j++) {
          if (j == rel) { acc[j] += x; cnt[j] += 1; }
        }
      }
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

/** Whether the kernels handle the shape on this device: keys and the partial sums within one binding. */
export function kmeansFits(G: number, N: number, k: number, d: number): boolean {
  const limit = deviceLimits().maxBinding;
  const parts = Math.max(1, Math.min(kmeansTuning.parts, N));
  return G * N * d * 4 <= limit && G * parts * k * d * 4 <= limit && d <= 4096;
}

export interface KMeansWgslResult {
  centroids: tf.Tensor3D;
  labels: tf.Tensor2D;
}

/**
 * cosineKMeans on WGSL. keys [G, N, d] float32; start [G, k, d] the initial centroids (borrowed: kmeans.ts
 * draws them as the op chain does). Every iteration is recorded in one compute pass.
 */
export function cosineKMeansWgsl(keys: tf.Tensor3D, k: number, iters: number, start: tf.Tensor3D): KMeansWgslResult {
  const [G, N, d] = keys.shape;
  const kr = storageReady(keys, 'f32');
  const sr = storageReady(start, 'f32');
  const keysBuf = bufferOf(kr.tensor, 'f32');
  const parts = Math.max(1, Math.min(kmeansTuning.parts, N));
  const partLen = Math.ceil(N / parts);
  const bytes = G * k * d * 4;
  // ping-pong raw and normalised centroids; the final raw centroids land in the output tensor
  const out = outputTensor<tf.Rank.R3>([G, k, d], 'float32');
  const labels = outputTensor<tf.Rank.R2>([G, N], 'int32');
  const raw = [scratchBuffer(bytes), scratchBuffer(bytes)];
  const normed = scratchBuffer(bytes);
  const psum = scratchBuffer(G * parts * k * d * 4);
  const pcount = scratchBuffer(G * parts * k * 4);
  const dispatches: Dispatch[] = [];
  const assign: Dispatch = { code: assignShader(d), uniforms: [N, k], buffers: [keysBuf, normed, labels.buffer], workgroups: [Math.ceil(N / BM), G] };
  const sums: Dispatch = { code: sumsShader(d), uniforms: [N, k, parts, partLen], buffers: [keysBuf, labels.buffer, psum, pcount], workgroups: [Math.ceil(k / CB), G, parts] };
  const update = (from: GPUBuffer, to: GPUBuffer, withParts: boolean): Dispatch => ({ code: updateShader(d), uniforms: [k, withParts ? parts : 0], buffers: [psum, pcount, from, to, normed], workgroups: [k, G] });
  // normalise the initial centroids (copying them into the first raw buffer, or the output when iters = 0)
  let cur = iters === 0 ? out.buffer : raw[0];
  dispatches.push(update(bufferOf(sr.tensor, 'f32'), cur, false));
  for (let it = 0; it < iters; it++) {
    const next = it === iters - 1 ? out.buffer : raw[(it + 1) % 2];
    dispatches.push(assign, sums, update(cur, next, true));
    cur = next;
  }
  dispatches.push(assign);
  record(dispatches, [...raw, normed, psum, pcount]);
  tf.dispose([kr.owned, sr.owned].filter((t): t is tf.Tensor => !!t));
  return { centroids: out.tensor, labels: labels.tensor };
}
