import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { clusterStats } from '../../src/sim/cluster-stats.js';
import { nearestCentroidCosine, selectionStats, summarizeClusters, traceDiagnostics } from '../../src/sim/diagnostics.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { TraceReader } from '../../src/trace/index.js';
import { LOCAL_BACKENDS, withBackend } from '../helpers/backend.js';
import { smallTrace } from '../helpers/traces.js';
import { refClusterStats, refNearestCosine, refSelectionStats } from '../reference/diagnostics.js';
import { mulberry32, randomNormalArray } from '../reference/metrics.js';

const G = 2;
const H = 4;
const N = 60;
const d = 8;
const k = 5;

function fixture(seed: number) {
  const rand = mulberry32(seed);
  const keys = randomNormalArray(G * N * d, rand);
  const centroids = randomNormalArray(G * k * d, rand);
  const q = randomNormalArray(H * d, rand);
  // labels by hand (cluster 4 of head 1 left empty), positions offset as after 16 sinks
  const labels = Int32Array.from({ length: G * N }, (_, i) => (i >= N ? Math.floor(rand() * (k - 1)) : Math.floor(rand() * k)));
  const positions = Int32Array.from({ length: N }, (_, i) => 16 + i);
  const rows = (x: Float32Array, g: number, n: number) => Array.from({ length: n }, (_, i) => Array.from(x.subarray((g * n + i) * d, (g * n + i + 1) * d)));
  return { keys, centroids, q, labels, positions, rows };
}

describe.each(LOCAL_BACKENDS)('diagnostics vs the plain-TS reference on %s', (backend) => {
  it('cluster sizes and dispersion', async () => {
    await withBackend(backend, async () => {
      const f = fixture(1);
      const keys = tf.tensor3d(f.keys, [G, N, d]);
      const km = { centroids: tf.tensor3d(f.centroids, [G, k, d]), labels: tf.tensor2d(f.labels, [G, N], 'int32') };
      const got = await clusterStats(keys, km.labels, km.centroids);
      tf.dispose([keys, km.centroids, km.labels]);
      for (let g = 0; g < G; g++) {
        const want = refClusterStats(f.rows(f.keys, g, N), Array.from(f.labels.subarray(g * N, (g + 1) * N)), f.rows(f.centroids, g, k));
        want.forEach((w, c) => {
          const row = got.find((r) => r.kvHead === g && r.cluster === c)!;
          expect(row.size).toBe(w.size);
          if (w.dispersion === null) expect(row.dispersion).toBeNull();
          else expect(row.dispersion!).toBeCloseTo(w.dispersion, 5);
        });
      }
      expect(got.find((r) => r.kvHead === 1 && r.cluster === 4)!.size).toBe(0);
    });
  });

  it('selection: clusters touched, last cluster cut and fragmentation', async () => {
    await withBackend(backend, async () => {
      const f = fixture(2);
      const keys = tf.tensor3d(f.keys, [G, N, d]);
      const q = tf.tensor2d(f.q, [H, d]);
      const km = { centroids: tf.tensor3d(f.centroids, [G, k, d]), labels: tf.tensor2d(f.labels, [G, N], 'int32') };
      for (const budget of [7, 25]) {
        const got = await selectionStats(q, keys, f.positions, km, budget);
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / G));
          const want = refSelectionStats(Array.from(f.q.subarray(h * d, (h + 1) * d)), f.rows(f.keys, g, N), Array.from(f.positions), Array.from(f.labels.subarray(g * N, (g + 1) * N)), f.rows(f.centroids, g, k), budget);
          expect(got[h].clustersTouched).toBe(want.clustersTouched);
          expect(got[h].lastClusterCutShare).toBeCloseTo(want.lastClusterCutShare, 9);
          expect(got[h].fragmentation).toBeCloseTo(want.fragmentation, 9);
        }
      }
      tf.dispose([keys, q, km.centroids, km.labels]);
    });
  });

  it('nearest prompt centroid cosine', async () => {
    await withBackend(backend, () => {
      const f = fixture(3);
      const prompt = tf.tensor3d(f.centroids, [G, k, d]);
      const window = tf.tensor3d(f.keys.subarray(0, G * 3 * d), [G, 3, d]);
      const got = nearestCentroidCosine(prompt, window).arraySync();
      tf.dispose([prompt, window]);
      for (let g = 0; g < G; g++) {
        const want = refNearestCosine(f.rows(f.keys.subarray(0, G * 3 * d) as Float32Array, g, 3), f.rows(f.centroids, g, k));
        want.forEach((w, c) => expect(got[g][c]).toBeCloseTo(w, 5));
      }
    });
  });
});

describe('traceDiagnostics', () => {
  it('covers every prompt token once, keeps measures in range, drift windows inside the prompt, no leak', async () => {
    await withBackend('wasm', async () => {
      const file = await smallTrace({ layers: 1, context: 512, steps: 3 });
      const reader = await TraceReader.open(file);
      const opts = { tokensPerCluster: 40, iters: 5, budget: 64, window: 64, windowsFrom: 317, windowClusters: 2 };
      await traceDiagnostics(reader, opts);
      const before = tf.memory().numTensors;
      const diag = await traceDiagnostics(reader, opts);
      expect(tf.memory().numTensors).toBe(before);
      await reader.close();
      // prompt [16, 317): 301 tokens, ceil(301 / 40) = 8 clusters per KV head
      const clusters = diag.clusters.objects() as Record<string, number>[];
      expect(clusters).toHaveLength(2 * 8);
      for (const g of [0, 1]) expect(clusters.filter((r) => r.kvHead === g).reduce((s, r) => s + r.size, 0)).toBe(301);
      for (const r of clusters) if (r.size > 0) expect(r.dispersion).toBeGreaterThanOrEqual(-1e-6);
      const selection = diag.selection.objects() as Record<string, number>[];
      expect(selection).toHaveLength(3 * 4);
      for (const r of selection) {
        expect(r.fragmentation).toBeGreaterThanOrEqual(0);
        expect(r.fragmentation).toBeLessThanOrEqual(1);
        expect(r.lastClusterCutShare).toBeLessThan(1);
        expect(r.clustersTouched).toBeGreaterThanOrEqual(1);
      }
      // windows of 64 from 317 up to 512: 3 windows x 2 KV heads x 2 clusters
      const drift = diag.drift.objects() as Record<string, number>[];
      expect(drift).toHaveLength(3 * 2 * 2);
      for (const r of drift) expect(Math.abs(r.nearestPromptCosine)).toBeLessThanOrEqual(1 + 1e-6);
      const summary = summarizeClusters(diag.clusters).objects() as Record<string, number>[];
      expect(summary[0].tokens).toBe(2 * 301);
    });
  });

  it('rejects bad options by name', async () => {
    await withBackend('wasm', async () => {
      const file = await smallTrace({ layers: 1, context: 256, steps: 2 });
      const reader = await TraceReader.open(file);
      // ClusterKV's parameters by ClusterKV's own checks: the messages createMethod('clusterkv', ...) and its plan give
      for (const [given, params] of [[{ budget: 0 }, { budget: 0 }], [{ iters: -1 }, { iters: -1, budget: 512 }], [{ windowClusters: 400 }, { windowClusters: 400, budget: 512 }]] as const) {
        const message = (() => {
          try {
            createMethod('clusterkv', params);
          } catch (err) {
            return (err as Error).message;
          }
          throw new Error(`createMethod accepted ${JSON.stringify(params)}`);
        })();
        await expect(traceDiagnostics(reader, given)).rejects.toThrow(message);
      }
      // the plan's check of a fixed C0 against the prompt tokens after the sinks (plan.ts promptClustering)
      await expect(traceDiagnostics(reader, { clusters: 1000 })).rejects.toThrow(`clusterkv: parameter 'clusters' (1000) is more than the ${reader.manifest.prefillLength - 16} prompt tokens`);
      await expect(traceDiagnostics(reader, { layers: [3] })).rejects.toThrow(/layer 3/);
      await reader.close();
    });
  });
});
