// Cluster sizes and intra-cluster cosine dispersion against a plain-TS reference, on cpu and wasm.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { clusterStats } from '../../src/sim/cluster-stats.js';
import { LOCAL_BACKENDS, numTensors, withBackend } from '../helpers/backend.js';
import { normals, rng } from '../reference/clusterkv.js';

function refStats(keys: Float32Array, labels: Int32Array, centroids: Float32Array, G: number, N: number, k: number, d: number) {
  const rows: { kvHead: number; cluster: number; size: number; dispersion: number | null }[] = [];
  for (let g = 0; g < G; g++) {
    const size = new Array(k).fill(0);
    const sum = new Array(k).fill(0);
    for (let i = 0; i < N; i++) {
      const c = labels[g * N + i];
      let dot = 0;
      let nk = 0;
      let nc = 0;
      for (let j = 0; j < d; j++) {
        const a = keys[(g * N + i) * d + j];
        const b = centroids[(g * k + c) * d + j];
        dot += a * b;
        nk += a * a;
        nc += b * b;
      }
      size[c] += 1;
      sum[c] += 1 - dot / Math.sqrt(nk * nc);
    }
    for (let c = 0; c < k; c++) rows.push({ kvHead: g, cluster: c, size: size[c], dispersion: size[c] ? sum[c] / size[c] : null });
  }
  return rows;
}

describe.each(LOCAL_BACKENDS)('clusterStats on %s', (backend) => {
  it('matches the reference, including an empty cluster, without leaking tensors', async () => {
    await withBackend(backend, async () => {
      const [G, N, d, k] = [2, 200, 8, 7];
      const keys = normals(G * N * d, 3);
      const centroids = normals(G * k * d, 4);
      const next = rng(5);
      // cluster 6 of head 1 stays empty
      const labels = Int32Array.from({ length: G * N }, (_, i) => Math.floor(next() * (i >= N ? k - 1 : k)));
      const before = numTensors();
      const [kt, lt, ct] = [tf.tensor3d(keys, [G, N, d]), tf.tensor2d(labels, [G, N], 'int32'), tf.tensor3d(centroids, [G, k, d])];
      const got = await clusterStats(kt, lt, ct);
      tf.dispose([kt, lt, ct]);
      expect(numTensors()).toBe(before);
      const want = refStats(keys, labels, centroids, G, N, k, d);
      expect(got.map((r) => [r.kvHead, r.cluster, r.size])).toEqual(want.map((r) => [r.kvHead, r.cluster, r.size]));
      expect(got[2 * k - 1].dispersion).toBeNull();
      got.forEach((r, i) => {
        if (want[i].dispersion !== null) expect(r.dispersion!).toBeCloseTo(want[i].dispersion!, 5);
      });
    });
  });

  it('rejects labels of the wrong shape, naming it', async () => {
    await withBackend(backend, async () => {
      const [kt, lt, ct] = [tf.zeros([1, 4, 2]) as tf.Tensor3D, tf.zeros([1, 3], 'int32') as tf.Tensor2D, tf.zeros([1, 2, 2]) as tf.Tensor3D];
      await expect(clusterStats(kt, lt, ct)).rejects.toThrow(/labels must be \[1, 4\]/);
      tf.dispose([kt, lt, ct]);
    });
  });
});
