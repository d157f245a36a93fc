/**
 * Backend parity: every ClusterKV kernel on the backend named by env CLUSTERKV_BACKEND (default wasm)
 * against the cpu reference backend, on the same inputs. Backend-agnostic (e.g. run on a GPU host with
 * CLUSTERKV_BACKEND=webgpu npx vitest run test/parity.test.ts).
 * Tolerances: integer outputs (labels, index, selected positions) exact, since the data are built far from
 * ties (well-separated clusters, random float scores); float outputs within 1e-4 relative (centroids,
 * attention; float32 summation order differs between backends).
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../src/gpu/backend.js';
import { attentionWeights, denseAttention, sparseAttention } from '../src/gpu/attention.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex } from '../src/gpu/clusterIndex.js';
import { ClusterKVAttention } from '../src/gpu/clusterkvAttention.js';
import { cosineKMeans } from '../src/gpu/kmeans.js';
import { disposeClusterSelection, selectClusters } from '../src/gpu/selection.js';
import { clusteredKeys, normals, rng } from './reference/clusterkv.js';

const target = process.env.CLUSTERKV_BACKEND || 'wasm';
type Outputs = Record<string, number[]>;

/** Runs every kernel on the active backend; returns plain arrays. */
function runKernels(): Outputs {
  const out: Outputs = {};
  const put = (name: string, t: tf.Tensor) => {
    out[name] = Array.from(t.dataSync());
    t.dispose();
  };
  const [G, H, N, d, k] = [4, 16, 2000, 32, 25];
  const { keys } = clusteredKeys(G, N, d, k, 31, 0.2);
  const keysT = tf.tensor3d(keys, [G, N, d]);
  const km = cosineKMeans(keysT, k, { iters: 10, seed: 3 });
  out.kmeansLabels = Array.from(km.labels.dataSync());
  out.kmeansCentroids = Array.from(km.centroids.dataSync());
  const index = buildClusterIndex(km.labels, k, Int32Array.from({ length: N }, (_, i) => 16 + i));
  const r = rng(5);
  const extraLabels = tf.tensor2d(Int32Array.from({ length: G * 64 }, () => Math.floor(r() * 4)), [G, 64], 'int32');
  const grown = appendClusters(index, extraLabels, 4, Int32Array.from({ length: 64 }, (_, i) => 5000 + i));
  put('indexSorted', grown.sortedTokens.clone());
  put('indexSizes', grown.sizes.clone());
  put('indexOffsets', grown.offsets.clone());
  const centroids = tf.tensor3d(normals(G * (k + 4) * d, 6), [G, k + 4, d]);
  const q = tf.tensor2d(normals(H * d, 7), [H, d]);
  for (const budget of [1, 300, 2100]) {
    const sel = selectClusters(q, centroids, grown, budget);
    put(`selectTokens${budget}`, sel.tokens.clone());
    put(`selectTaken${budget}`, sel.taken.clone());
    disposeClusterSelection(sel);
  }
  const values = tf.tensor3d(normals(G * N * d, 8), [G, N, d]);
  const tokens = tf.tensor2d(Int32Array.from({ length: H * 200 }, (_, i) => (i * 7919) % N), [H, 200], 'int32');
  put('dense', denseAttention(q, keysT, values));
  put('sparse', sparseAttention(q, keysT, values, tokens));
  put('weights', attentionWeights(q, keysT));
  tf.dispose([keysT, km.labels, km.centroids, extraLabels, centroids, q, values, tokens]);
  disposeClusterIndex(index);
  disposeClusterIndex(grown);
  // ClusterKVAttention through two closing windows
  const info = { layer: 2, heads: 8, kvHeads: 2, headDim: 16 };
  const [P, steps] = [300, 70];
  const stream = clusteredKeys(2, P + steps, 16, 8, 41, 0.2);
  const vals = normals(2 * (P + steps) * 16, 42);
  const at = (x: Float32Array, from: number, n: number) => {
    const T = P + steps;
    const rows = new Float32Array(2 * n * 16);
    for (let g = 0; g < 2; g++) rows.set(x.subarray((g * T + from) * 16, (g * T + from + n) * 16), g * n * 16);
    return tf.tensor3d(rows, [2, n, 16]);
  };
  const attention = new ClusterKVAttention({ budget: 64, window: 32, windowClusters: 4, tokensPerCluster: 40, iters: 10, seed: 1 }, info);
  const [k0, v0] = [at(stream.keys, 0, P), at(vals, 0, P)];
  attention.prefill(k0, v0);
  const queries = normals(steps * 8 * 16, 43);
  const decoded: number[] = [];
  for (let t = 0; t < steps; t++) {
    const [kn, vn, qt] = [at(stream.keys, P + t, 1), at(vals, P + t, 1), tf.tensor2d(queries.subarray(t * 128, (t + 1) * 128), [8, 16])];
    const o = attention.decode(qt, kn, vn);
    decoded.push(...o.dataSync());
    tf.dispose([kn, vn, qt, o]);
  }
  out.decodeOutputs = decoded;
  put('finalCentroids', attention.state.centroids.clone());
  put('finalIndex', attention.state.index.sortedTokens.clone());
  attention.dispose();
  tf.dispose([k0, v0]);
  return out;
}

const FLOAT = new Set(['kmeansCentroids', 'dense', 'sparse', 'weights', 'decodeOutputs', 'finalCentroids']);

describe(`backend parity: ${target} vs cpu`, () => {
  it('gives the cpu results on every kernel', async () => {
    await useBackend('cpu');
    const want = runKernels();
    await useBackend(target);
    const before = tf.memory().numTensors;
    const got = runKernels();
    expect(tf.memory().numTensors).toBe(before);
    for (const name of Object.keys(want)) {
      expect(got[name].length, name).toBe(want[name].length);
      if (FLOAT.has(name)) {
        let worst = 0;
        for (let i = 0; i < want[name].length; i++) worst = Math.max(worst, Math.abs(got[name][i] - want[name][i]) / (1 + Math.abs(want[name][i])));
        expect(worst, `${name}: worst relative difference`).toBeLessThan(1e-4);
      } else {
        expect(got[name], name).toEqual(want[name]);
      }
    }
  });
});
