/** The ClusterKV kernels against plain-TS references and ml-kmeans, on cpu and wasm. */
import * as tf from '@tensorflow/tfjs-core';
import { kmeans as mlKMeans } from 'ml-kmeans';
import { describe, expect, it } from 'vitest';
import { attentionWeights, denseAttention, sparseAttention } from '../../src/gpu/attention.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex } from '../../src/gpu/cluster-index.js';
import { cosineKMeans, initialIndices } from '../../src/gpu/kmeans.js';
import { refineCandidates } from '../../src/gpu/refine-candidates.js';
import { rankClusters, readClusterChoice, selectClusters, disposeClusterSelection } from '../../src/gpu/selection.js';
import { LOCAL_BACKENDS, withBackend } from '../helpers/backend.js';
import { worstRelative } from '../helpers/tensors.js';
import { clusteredKeys, normals, refAttend, refClusterIndex, refCosineKMeans, refRefine, refSelect, rng } from '../reference/clusterkv.js';

const slice = (x: ArrayLike<number>, start: number, n: number) => Array.from({ length: n }, (_, i) => x[start + i]);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(worstRelative(got, want)).toBeLessThan(tol);
}

describe.each(LOCAL_BACKENDS)('cosine K-means on %s', (backend) => {
  it('one cluster: every label 0, the centroid the mean of the raw keys (as the reference)', async () => {
    await withBackend(backend, () => {
      const [G, N, d] = [2, 50, 8];
      const { keys } = clusteredKeys(G, N, d, 3, 5, 0.3);
      const init = normals(G * d, 11);
      const [kt, it] = [tf.tensor3d(keys, [G, N, d]), tf.tensor3d(init, [G, 1, d])];
      const res = cosineKMeans(kt, 1, { iters: 3, seed: 0, init: it });
      tf.dispose([kt, it]);
      expect(Array.from(res.labels.dataSync())).toEqual(new Array(G * N).fill(0));
      const centroids = res.centroids.dataSync();
      for (let g = 0; g < G; g++) {
        const ref = refCosineKMeans(keys.subarray(g * N * d, (g + 1) * N * d), N, d, 1, 3, init.subarray(g * d, (g + 1) * d));
        expectClose(slice(centroids, g * d, d), ref.centroids, 1e-5);
      }
      tf.dispose([res.labels, res.centroids]);
    });
  });

  it('matches the plain-TS reference (same rule, same initial centroids)', async () => {
    await withBackend(backend, () => {
      const [G, N, d, k] = [2, 300, 16, 6];
      const { keys } = clusteredKeys(G, N, d, k, 7, 0.3); // noisy: clusters overlap a little, iterations matter
      const init = normals(G * k * d, 99);
      const [kt, it] = [tf.tensor3d(keys, [G, N, d]), tf.tensor3d(init, [G, k, d])];
      const res = cosineKMeans(kt, k, { iters: 8, seed: 0, init: it });
      tf.dispose([kt, it]);
      const labels = res.labels.dataSync();
      const centroids = res.centroids.dataSync();
      for (let g = 0; g < G; g++) {
        const ref = refCosineKMeans(keys.subarray(g * N * d, (g + 1) * N * d), N, d, k, 8, init.subarray(g * k * d, (g + 1) * k * d));
        expect(slice(labels, g * N, N)).toEqual(Array.from(ref.labels));
        expectClose(slice(centroids, g * k * d, k * d), ref.centroids, 1e-4);
      }
      expect(res.labels.dtype).toBe('int32');
      tf.dispose([res.labels, res.centroids]);
    });
  });

  it('matches ml-kmeans on L2-normalised, well-separated data from the same initial centroids', async () => {
    // Why this comparison is valid: on unit-norm keys, the mean of raw keys (ours) and of the points
    // (ml-kmeans) is the same vector; euclidean and cosine assignment agree whenever each key's nearest
    // centroid is also its most cosine-similar one, which holds for tight, well-separated clusters (checked
    // below: the reference's euclidean and cosine labels coincide at the final centroids).
    await withBackend(backend, () => {
      const [N, d, k] = [400, 24, 8];
      const { keys: raw } = clusteredKeys(1, N, d, k, 21, 0.1);
      const keys = new Float32Array(N * d);
      for (let n = 0; n < N; n++) {
        const norm = Math.hypot(...raw.subarray(n * d, (n + 1) * d));
        for (let i = 0; i < d; i++) keys[n * d + i] = raw[n * d + i] / norm;
      }
      // one initial key per true cluster (keys 0..k-1 are members of clusters 0..k-1): well separated from the start
      const init = Array.from({ length: k }, (_, c) => slice(keys, c * d, d));
      const ml = mlKMeans(Array.from({ length: N }, (_, n) => slice(keys, n * d, d)), k, { initialization: init, maxIterations: 50, tolerance: 0 });
      const [kt, it] = [tf.tensor3d(keys, [1, N, d]), tf.tensor3d(init.flat(), [1, k, d])];
      const res = cosineKMeans(kt, k, { iters: 30, seed: 0, init: it });
      tf.dispose([kt, it]);
      expect(Array.from(res.labels.dataSync())).toEqual(ml.clusters);
      expectClose(res.centroids.dataSync(), ml.centroids.flat(), 1e-4);
      // premise: euclidean nearest == cosine best at the final centroids
      const c = res.centroids.dataSync();
      for (let n = 0; n < N; n++) {
        let bestE = 0;
        let bestEd = Infinity;
        for (let j = 0; j < k; j++) {
          let dist = 0;
          for (let i = 0; i < d; i++) dist += (keys[n * d + i] - c[j * d + i]) ** 2;
          if (dist < bestEd) [bestE, bestEd] = [j, dist];
        }
        expect(bestE).toBe(ml.clusters[n]);
      }
      tf.dispose([res.labels, res.centroids]);
    });
  });

  it('keeps an empty cluster at its old centroid', async () => {
    await withBackend(backend, () => {
      const [N, d, k] = [120, 8, 3];
      const keys = new Float32Array(N * d);
      const r = rng(3);
      for (let n = 0; n < N; n++) for (let i = 0; i < d; i++) keys[n * d + i] = 1 + r(); // all in the positive orthant
      const init = new Float32Array(k * d);
      init.set(slice(keys, 0, d), 0);
      init.set(slice(keys, 50 * d, d), d);
      init.fill(-1, 2 * d); // opposite every key: cosine < 0 with all of them, never wins
      const [kt, it] = [tf.tensor3d(keys, [1, N, d]), tf.tensor3d(init, [1, k, d])];
      const res = cosineKMeans(kt, k, { iters: 5, seed: 0, init: it });
      tf.dispose([kt, it]);
      expect(Array.from(res.labels.dataSync())).not.toContain(2);
      expect(slice(res.centroids.dataSync(), 2 * d, d)).toEqual(new Array(d).fill(-1));
      tf.dispose([res.labels, res.centroids]);
    });
  });

  it('seeds the initialisation with k distinct keys per head, reproducibly', async () => {
    await withBackend(backend, () => {
      const [G, N, d, k] = [3, 50, 4, 10];
      const keys = normals(G * N * d, 4);
      const run = (seed: number, iters: number) =>
        tf.tidy(() => {
          const r = cosineKMeans(tf.tensor3d(keys, [G, N, d]), k, { iters, seed });
          return [Array.from(r.centroids.dataSync()), Array.from(r.labels.dataSync())];
        }) as number[][];
      expect(run(1, 3)).toEqual(run(1, 3));
      expect(run(1, 0)[0]).not.toEqual(run(2, 0)[0]);
      const picks = initialIndices(G, N, k, 1);
      const c0 = run(1, 0)[0];
      for (let g = 0; g < G; g++) {
        expect(new Set(picks[g]).size).toBe(k);
        picks[g].forEach((p, j) => expectClose(c0.slice((g * k + j) * d, (g * k + j + 1) * d), slice(keys, (g * N + p) * d, d), 1e-7));
      }
    });
  });

  it('rejects bad parameters, naming them', async () => {
    await withBackend(backend, () => {
      const keys = tf.zeros([1, 5, 2]) as tf.Tensor3D;
      expect(() => cosineKMeans(keys, 6, { iters: 1, seed: 0 })).toThrow(/more clusters \(k = 6\) than tokens \(N = 5\)/);
      expect(() => cosineKMeans(keys, 0, { iters: 1, seed: 0 })).toThrow(/k \(clusters\)/);
      expect(() => cosineKMeans(keys, 2, { iters: -1, seed: 0 })).toThrow(/iters/);
      keys.dispose();
    });
  });
});

describe.each(LOCAL_BACKENDS)('cluster index, selection and attention on %s', (backend) => {
  it('builds and appends the index like a stable counting sort', async () => {
    await withBackend(backend, () => {
      const [G, N, k] = [2, 500, 7];
      const r = rng(8);
      const labels = Int32Array.from({ length: G * N }, () => Math.floor(r() * k));
      const ids = Int32Array.from({ length: N }, (_, i) => 16 + i);
      const labelsT = tf.tensor2d(labels, [G, N], 'int32');
      const index = buildClusterIndex(labelsT, k, ids);
      const labels2 = Int32Array.from({ length: G * 40 }, () => Math.floor(r() * 3));
      const ids2 = Int32Array.from({ length: 40 }, (_, i) => 1000 + i);
      const labels2T = tf.tensor2d(labels2, [G, 40], 'int32');
      const grown = appendClusters(index, labels2T, 3, ids2);
      tf.dispose([labelsT, labels2T]);
      for (let g = 0; g < G; g++) {
        const ref = refClusterIndex(labels.subarray(g * N, (g + 1) * N), k, ids);
        const ref2 = refClusterIndex(labels2.subarray(g * 40, (g + 1) * 40), 3, ids2);
        expect(slice(index.sortedTokens.dataSync(), g * N, N)).toEqual(ref.sortedTokens);
        expect(slice(index.sizes.dataSync(), g * k, k)).toEqual(ref.sizes);
        expect(slice(index.offsets.dataSync(), g * k, k)).toEqual(ref.offsets);
        expect(slice(grown.sortedTokens.dataSync(), g * (N + 40), N + 40)).toEqual([...ref.sortedTokens, ...ref2.sortedTokens]);
        expect(slice(grown.offsets.dataSync(), g * (k + 3), k + 3)).toEqual([...ref.offsets, ...ref2.offsets.map((o) => o + N)]);
      }
      expect([grown.clusters, grown.tokens]).toEqual([k + 3, N + 40]);
      disposeClusterIndex(index);
      disposeClusterIndex(grown);
    });
  });

  it('selects clusters per query head like the reference (GQA, cut last cluster, empty clusters)', async () => {
    await withBackend(backend, () => {
      const [H, G, K, N, d] = [8, 2, 40, 1200, 16];
      const r = rng(12);
      // cluster 5 is empty in every head
      const labels = Int32Array.from({ length: G * N }, () => {
        const c = Math.floor(r() * (K - 1));
        return c >= 5 ? c + 1 : c;
      });
      const centroids = normals(G * K * d, 13);
      const q = normals(H * d, 14);
      const labelsT = tf.tensor2d(labels, [G, N], 'int32');
      const index = buildClusterIndex(labelsT, K);
      labelsT.dispose();
      for (const budget of [1, 97, 500, 1200, 5000]) {
        const [qt, ct] = [tf.tensor2d(q, [H, d]), tf.tensor3d(centroids, [G, K, d])];
        const sel = selectClusters(qt, ct, index, budget);
        tf.dispose([qt, ct]);
        const n = Math.min(budget, N);
        expect(sel.tokens.shape).toEqual([H, n]);
        const tokens = sel.tokens.dataSync();
        const choice = readClusterChoice(sel);
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / G));
          const refIdx = refClusterIndex(labels.subarray(g * N, (g + 1) * N), K, Array.from({ length: N }, (_, i) => i));
          const ref = refSelect(q.subarray(h * d, (h + 1) * d), centroids.subarray(g * K * d, (g + 1) * K * d), K, d, refIdx, budget);
          expect(slice(tokens, h * n, n)).toEqual(ref.tokens);
          expect(Array.from(choice.ids[h])).toEqual(ref.clusters);
          expect(choice.taken[h][choice.taken[h].length - 1]).toBe(ref.lastTaken);
        }
        disposeClusterSelection(sel);
      }
      disposeClusterIndex(index);
    });
  });

  it('computes dense and sparse attention like the reference; sparse over every position equals dense', async () => {
    await withBackend(backend, () => {
      const [H, G, T, d] = [6, 3, 257, 16];
      const q = normals(H * d, 1);
      const keys = normals(G * T * d, 2);
      const values = normals(G * T * d, 3);
      const r = rng(4);
      const n = 50;
      const chosen = Array.from({ length: H }, () => initialIndices(1, T, n, Math.floor(r() * 1e6))[0]);
      const [dense, sparse, all, weights] = tf.tidy(() => {
        const [qt, kt, vt] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor3d(values, [G, T, d])];
        const everything = tf.tile(tf.expandDims(tf.range(0, T, 1, 'int32'), 0), [H, 1]) as tf.Tensor2D;
        const tok = tf.tensor2d(Int32Array.from(chosen.flatMap((c) => Array.from(c))), [H, n], 'int32');
        return [denseAttention(qt, kt, vt), sparseAttention(qt, kt, vt, tok), sparseAttention(qt, kt, vt, everything), attentionWeights(qt, kt)].map((t) => t.dataSync());
      });
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const [kh, vh, qh] = [keys.subarray(g * T * d, (g + 1) * T * d), values.subarray(g * T * d, (g + 1) * T * d), q.subarray(h * d, (h + 1) * d)];
        expectClose(slice(dense, h * d, d), refAttend(qh, kh, vh, d, Array.from({ length: T }, (_, t) => t)), 1e-5);
        expectClose(slice(sparse, h * d, d), refAttend(qh, kh, vh, d, Array.from(chosen[h])), 1e-5);
        expectClose([slice(weights, h * T, T).reduce((a, b) => a + b, 0)], [1], 1e-5);
      }
      expectClose(all, dense, 1e-6);
    });
  });

  it('sparse attention skips empty slots (negative positions), also where a head keeps one position', async () => {
    await withBackend(backend, () => {
      const [H, G, T, d, n] = [4, 2, 90, 8, 30];
      const q = normals(H * d, 5);
      const keys = normals(G * T * d, 6);
      const values = normals(G * T * d, 7);
      // head h keeps its first 30 - 9h slots (head 3: 3), the rest empty; head 0 also empties a slot inside
      const lists = Array.from({ length: H }, (_, h) => Array.from(initialIndices(1, T, n, 11 + h)[0], (t, j) => (j >= n - 9 * h || (h === 0 && j === 4) ? -1 : t)));
      const out = tf.tidy(() => {
        const tok = tf.tensor2d(Int32Array.from(lists.flat()), [H, n], 'int32');
        return sparseAttention(tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor3d(values, [G, T, d]), tok).dataSync();
      });
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const [kh, vh, qh] = [keys.subarray(g * T * d, (g + 1) * T * d), values.subarray(g * T * d, (g + 1) * T * d), q.subarray(h * d, (h + 1) * d)];
        expectClose(slice(out, h * d, d), refAttend(qh, kh, vh, d, lists[h].filter((t) => t >= 0)), 1e-5);
      }
    });
  });
});

describe.each(LOCAL_BACKENDS)('cluster ranking methods on %s', (backend) => {
  it('compare ranks exactly as topk does, ties to the lower id', async () => {
    await withBackend(backend, () => {
      const r = rng(17);
      for (const [H, K] of [[4, 1], [3, 2], [8, 37], [4, 400]] as const) {
        // scores rounded to a coarse grid so that ties are common
        const data = Float32Array.from({ length: H * K }, () => Math.round((r() - 0.5) * 20) / 4);
        const scores = tf.tensor2d(data, [H, K]);
        const byTopk = rankClusters(scores, 'topk');
        const byCompare = rankClusters(scores, 'compare');
        const want: number[] = [];
        for (let h = 0; h < H; h++) {
          const ids = Array.from({ length: K }, (_, c) => c);
          ids.sort((a, b) => data[h * K + b] - data[h * K + a] || a - b);
          want.push(...ids);
        }
        expect(Array.from(byCompare.dataSync())).toEqual(want);
        expect(Array.from(byTopk.dataSync())).toEqual(want);
        tf.dispose([scores, byTopk, byCompare]);
      }
    });
  });
});

describe.each(LOCAL_BACKENDS)('token refinement (refineCandidates) on %s', (backend) => {
  const [H, G, T, d] = [6, 2, 120, 8];
  /** Per head, n distinct positions in a seeded shuffled order (cluster-rank order is not position order). */
  const pools = (n: number, seed: number) => {
    const r = rng(seed);
    return Array.from({ length: H }, () => {
      const all = Array.from({ length: T }, (_, t) => t);
      for (let i = T - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [all[i], all[j]] = [all[j], all[i]];
      }
      return all.slice(0, n);
    });
  };

  it.each([
    [40, 10],
    [40, 40],
    [7, 1],
    [5, 0],
  ])('the top B of %i candidates by exact q.k as the plain-TS reference (B = %i)', async (n, budget) => {
    await withBackend(backend, async () => {
      const [q, keys] = [normals(H * d, 3), normals(G * T * d, 4)];
      const cand = pools(n, n + budget);
      const [qt, kt, ct] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor2d(cand, [H, n], 'int32')];
      const out = refineCandidates(qt, kt, ct, budget);
      expect(out.shape).toEqual([H, budget]);
      expect(out.dtype).toBe('int32');
      // (tfjs reads a [H, 0] tensor back as [])
      if (budget > 0) expect(await out.array()).toEqual(refRefine(q, keys, H, G, T, d, cand, budget));
      tf.dispose([qt, kt, ct, out]);
    });
  });

  it('breaks ties to the earlier position whatever the candidates order', async () => {
    await withBackend(backend, async () => {
      // keys that repeat every 10 positions: every score appears T / 10 times
      const base = normals(G * 10 * d, 5);
      const keys = new Float32Array(G * T * d);
      for (let g = 0; g < G; g++) for (let t = 0; t < T; t++) keys.set(base.subarray((g * 10 + (t % 10)) * d, (g * 10 + (t % 10) + 1) * d), (g * T + t) * d);
      const q = normals(H * d, 6);
      const cand = pools(60, 9);
      const [qt, kt, ct] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor2d(cand, [H, 60], 'int32')];
      const out = refineCandidates(qt, kt, ct, 15);
      const want = refRefine(q, keys, H, G, T, d, cand, 15);
      expect(await out.array()).toEqual(want);
      // the property is exercised: some chosen positions share a key (a tie) and come in position order
      expect(want.some((row) => row.some((t, i) => i > 0 && t % 10 === row[i - 1] % 10 && t > row[i - 1]))).toBe(true);
      tf.dispose([qt, kt, ct, out]);
    });
  });

  it('refuses a budget above the candidates and mismatched shapes', async () => {
    await withBackend(backend, () => {
      const [qt, kt, ct] = [tf.zeros([H, d]) as tf.Tensor2D, tf.zeros([G, T, d]) as tf.Tensor3D, tf.zeros([H, 4], 'int32') as tf.Tensor2D];
      expect(() => refineCandidates(qt, kt, ct, 5)).toThrow(/refinement budget must be an integer in \[0, 4\]/);
      expect(() => refineCandidates(qt, kt, tf.zeros([H - 1, 4], 'int32') as tf.Tensor2D, 2)).toThrow(/candidates must be \[H = 6, n\]/);
      tf.dispose([qt, kt, ct]);
    });
  });
});
