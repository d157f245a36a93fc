/**
 * Backend parity: every ClusterKV kernel (K-means, cluster index with appended windows, selection, dense and
 * sparse attention, attention weights, ClusterKVAttention decoding through closing windows, a replay with
 * its metrics) run on a target
 * backend and on the cpu reference backend with the same inputs, compared output by output.
 * Tolerances: integer outputs (labels, index, selected positions) must match exactly — the inputs are built
 * far from ties (well-separated clusters, random float scores); float outputs within 1e-4 relative
 * (|a - b| / (1 + |b|)), as float32 summation order differs between backends.
 * Used by test/parity.test.ts (wasm in CI) and by `clusterkv parity` on a GPU host.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attentionWeights, denseAttention, sparseAttention } from '../gpu/attention.js';
import { useBackend } from '../gpu/backend.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex } from '../gpu/cluster-index.js';
import type { ClusterKVLayer } from './methods/clusterkv-layer.js';
import { cosineKMeans } from '../gpu/kmeans.js';
import { mulberry32 } from '../gpu/random.js';
import { disposeClusterSelection, rankClusters, selectClusters } from '../gpu/selection.js';
import { createMethod } from './methods/index.js';
import { replayLayer } from './replay.js';
import type { TraceManifest } from '../trace/manifest.js';

export const FLOAT_TOLERANCE = 1e-4;

export interface ParityCheck {
  output: string;
  kind: 'exact' | 'float';
  length: number;
  /** exact: mismatching elements; float: worst relative difference */
  worst: number;
  pass: boolean;
}

export interface ParityReport {
  target: string;
  reference: string;
  checks: ParityCheck[];
  /** tensors left allocated by one run of every kernel on the target (must be 0) */
  leakedTensors: number;
  pass: boolean;
}

function normals(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** [G, N, d] keys in k tight, well-separated directional clusters (every cluster has a member). */
function clusteredKeys(G: number, N: number, d: number, k: number, seed: number, noise: number): Float32Array {
  const r = mulberry32(seed);
  const dirs = normals(G * k * d, seed + 1);
  const eps = normals(G * N * d, seed + 2);
  const keys = new Float32Array(G * N * d);
  for (let g = 0; g < G; g++) {
    for (let n = 0; n < N; n++) {
      const c = n < k ? n : Math.floor(r() * k);
      let norm = 0;
      for (let i = 0; i < d; i++) norm += dirs[(g * k + c) * d + i] ** 2;
      const scale = (0.5 + 1.5 * r()) / Math.sqrt(norm);
      for (let i = 0; i < d; i++) keys[(g * N + n) * d + i] = scale * (dirs[(g * k + c) * d + i] + noise * eps[(g * N + n) * d + i]);
    }
  }
  return keys;
}

/** Runs every kernel on the active backend; returns plain arrays by output name (async reads: webgpu has no sync ones in Node). */
async function runKernels(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const put = async (name: string, t: tf.Tensor) => {
    out[name] = Array.from(await t.data());
    t.dispose();
  };
  const [G, H, N, d, k] = [4, 16, 2000, 32, 25];
  const keysT = tf.tensor3d(clusteredKeys(G, N, d, k, 31, 0.2), [G, N, d]);
  const km = cosineKMeans(keysT, k, { iters: 10, seed: 3 });
  out.kmeansLabels = Array.from(await km.labels.data());
  out.kmeansCentroids = Array.from(await km.centroids.data());
  const index = buildClusterIndex(km.labels, k, Int32Array.from({ length: N }, (_, i) => 16 + i));
  const r = mulberry32(5);
  const extraLabels = tf.tensor2d(Int32Array.from({ length: G * 64 }, () => Math.floor(r() * 4)), [G, 64], 'int32');
  const grown = appendClusters(index, extraLabels, 4, Int32Array.from({ length: 64 }, (_, i) => 5000 + i));
  await put('indexSorted', grown.sortedTokens.clone());
  await put('indexSizes', grown.sizes.clone());
  await put('indexOffsets', grown.offsets.clone());
  const centroids = tf.tensor3d(normals(G * (k + 4) * d, 6), [G, k + 4, d]);
  const q = tf.tensor2d(normals(H * d, 7), [H, d]);
  for (const budget of [1, 300, 2100]) {
    const sel = selectClusters(q, centroids, grown, budget);
    await put(`selectTokens${budget}`, sel.tokens.clone());
    await put(`selectTaken${budget}`, sel.taken.clone());
    disposeClusterSelection(sel);
  }
  // both ranking methods, on scores with many ties (the tie rule must agree too)
  const tiedScores = tf.tensor2d(Float32Array.from({ length: H * 300 }, () => Math.round(r() * 40) / 8), [H, 300]);
  await put('rankTopk', rankClusters(tiedScores, 'topk'));
  await put('rankCompare', rankClusters(tiedScores, 'compare'));
  tiedScores.dispose();
  const values = tf.tensor3d(normals(G * N * d, 8), [G, N, d]);
  const tokens = tf.tensor2d(Int32Array.from({ length: H * 200 }, (_, i) => (i * 7919) % N), [H, 200], 'int32');
  await put('dense', denseAttention(q, keysT, values));
  await put('sparse', sparseAttention(q, keysT, values, tokens));
  await put('weights', attentionWeights(q, keysT));
  tf.dispose([keysT, km.labels, km.centroids, extraLabels, centroids, q, values, tokens]);
  disposeClusterIndex(index);
  disposeClusterIndex(grown);
  // ClusterKVAttention through two closing windows
  const info = { layer: 2, heads: 8, kvHeads: 2, headDim: 16 };
  const [P, steps] = [300, 70];
  const T = P + steps;
  const streamKeys = clusteredKeys(2, T, 16, 8, 41, 0.2);
  const vals = normals(2 * T * 16, 42);
  const at = (x: Float32Array, from: number, n: number) => {
    const rows = new Float32Array(2 * n * 16);
    for (let g = 0; g < 2; g++) rows.set(x.subarray((g * T + from) * 16, (g * T + from + n) * 16), g * n * 16);
    return tf.tensor3d(rows, [2, n, 16]);
  };
    const attention = createMethod('clusterkv', { budget: 64, window: 32, windowClusters: 4, tokensPerCluster: 40, iters: 10, seed: 1, diagnostics: false, denseLayers: 0 }).forLayer(info) as ClusterKVLayer;
  const [k0, v0] = [at(streamKeys, 0, P), at(vals, 0, P)];
  attention.prefill(k0, v0);
  const queries = normals(steps * 8 * 16, 43);
  const decoded: number[] = [];
  for (let t = 0; t < steps; t++) {
    const [kn, vn, qt] = [at(streamKeys, P + t, 1), at(vals, P + t, 1), tf.tensor2d(queries.subarray(t * 128, (t + 1) * 128), [8, 16])];
    const o = await attention.decode(qt, kn, vn);
    decoded.push(...(await o.data()));
    tf.dispose([kn, vn, qt, o]);
  }
  out.decodeOutputs = decoded;
  await put('finalCentroids', attention.state.centroids.clone());
  await put('finalIndex', attention.state.index.sortedTokens.clone());
  attention.dispose();
  tf.dispose([k0, v0]);
  // a replay (selectors, then the metrics' scatter, top-k and masked attention) of one synthetic layer
  const [S, Hr] = [4, 8];
  const manifest = {
    format: 'clusterkv-trace', version: 1, source: { kind: 'synthetic', name: 'parity' }, keys: 'post-rope', createdBy: 'parity',
    model: { layers: 1, heads: Hr, kvHeads: 2, headDim: 16, ropeTheta: 10000 }, contextLength: T, prefillLength: T - S,
    stepPositions: Array.from({ length: S }, (_, i) => T - S + i), dtype: 'F32',
  } as TraceManifest;
  const layer = { k: streamKeys, v: vals, q: normals(S * Hr * 16, 44) };
  const methods = [createMethod('oracle', { budget: 48, denseLayers: 0 }), createMethod('clusterkv', { budget: 48, denseLayers: 0, tokensPerCluster: 24, iters: 5 })];
  const rows = (await replayLayer(manifest, 0, layer, methods, { steps: [0, 1, 2, 3], heads: Array.from({ length: Hr }, (_, h) => h) })).flat();
  for (const metric of ['massRecall', 'topkRecall', 'outputRelError', 'tokensLoaded'] as const) out[`replay.${metric}`] = rows.map((r) => Number(r[metric]));
  return out;
}

const FLOAT_OUTPUTS = new Set(['kmeansCentroids', 'dense', 'sparse', 'weights', 'decodeOutputs', 'finalCentroids', 'replay.massRecall', 'replay.topkRecall', 'replay.outputRelError']);

function compare(name: string, got: number[], want: number[]): ParityCheck {
  const kind = FLOAT_OUTPUTS.has(name) ? 'float' : 'exact';
  if (got.length !== want.length) return { output: name, kind, length: want.length, worst: Infinity, pass: false };
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (kind === 'float') worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    else if (got[i] !== want[i]) worst += 1;
  }
  return { output: name, kind, length: want.length, worst, pass: kind === 'float' ? worst < FLOAT_TOLERANCE : worst === 0 };
}

/** Runs every kernel on `reference` then on `target` (leaving `target` active) and compares. */
export async function runParity(target: string, reference = 'cpu'): Promise<ParityReport> {
  await useBackend(reference);
  const want = await runKernels();
  const targetName = await useBackend(target);
  await runKernels(); // warm-up: first-use pipelines and caches are not leaks
  const before = tf.memory().numTensors;
  const got = await runKernels();
  const leakedTensors = tf.memory().numTensors - before;
  const checks = Object.keys(want).map((name) => compare(name, got[name] ?? [], want[name]));
  return { target: targetName, reference, checks, leakedTensors, pass: leakedTensors === 0 && checks.every((c) => c.pass) };
}
