/**
 * ClusterKV's scoring 'bound' (issue 14 item 4): each cluster's min/max box, the mapped query, and the
 * selection they make, against plain-TS references written from the definition: bound(q, c) =
 * sum_i max(q_i * max_{k in c} k_i, q_i * min_{k in c} k_i), an upper bound of q.k over the cluster's keys;
 * clusters ranked by it (ties: lower id), taken to the budget, the last one cut.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { boundQuery, clusterBoxes } from '../../../src/gpu/cluster-bounds.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import type { ClusterKVLayer } from '../../../src/sim/methods/clusterkv/layer.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { normals, refSelect, rng, type RefIndex } from '../../reference/clusterkv.js';

/** Per cluster [k][2d] = [max, min] of the member keys (a zero box for an empty cluster). keys [N*d], labels [N]. */
function refBoxes(keys: ArrayLike<number>, labels: ArrayLike<number>, N: number, d: number, k: number): number[][] {
  return Array.from({ length: k }, (_, c) => {
    const members = Array.from({ length: N }, (_, n) => n).filter((n) => labels[n] === c);
    if (members.length === 0) return new Array(2 * d).fill(0);
    const hi = Array.from({ length: d }, (_, i) => Math.max(...members.map((n) => keys[n * d + i])));
    const lo = Array.from({ length: d }, (_, i) => Math.min(...members.map((n) => keys[n * d + i])));
    return [...hi, ...lo];
  });
}

/** The bound of q over a box [max, min], from its definition. */
function refBound(q: ArrayLike<number>, box: number[], d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += Math.max(q[i] * box[i], q[i] * box[d + i]);
  return s;
}

describe.each(LOCAL_BACKENDS)('cluster bound on %s', (backend) => {
  it("boxes every cluster's keys (empty clusters get a zero box), and the mapped query's inner product is the bound", async () => {
    await withBackend(backend, async () => {
      const [G, N, d, k] = [2, 300, 16, 9];
      const keys = normals(G * N * d, 21);
      const r = rng(22);
      const labels = Int32Array.from({ length: G * N }, () => Math.floor(r() * (k - 1))); // cluster k-1 stays empty
      const boxes = clusterBoxes(tf.tensor3d(keys, [G, N, d]), tf.tensor2d(labels, [G, N], 'int32'), k);
      expect(boxes.shape).toEqual([G, k, 2 * d]);
      const got = (await boxes.array()) as number[][][];
      const q = normals(3 * d, 23);
      const mapped = (await boundQuery(tf.tensor2d(q, [3, d])).array()) as number[][];
      for (let g = 0; g < G; g++) {
        const want = refBoxes(keys.subarray(g * N * d, (g + 1) * N * d), labels.subarray(g * N, (g + 1) * N), N, d, k);
        for (let c = 0; c < k; c++) {
          for (let i = 0; i < 2 * d; i++) expect(got[g][c][i]).toBeCloseTo(want[c][i], 6);
          for (let h = 0; h < 3; h++) {
            const score = mapped[h].reduce((a, m, i) => a + m * got[g][c][i], 0);
            const qh = q.subarray(h * d, (h + 1) * d);
            expect(score).toBeCloseTo(refBound(qh, want[c], d), 4);
            // an upper bound of q.k for every member
            for (let n = 0; n < N; n++) {
              if (labels[g * N + n] !== c) continue;
              let dot = 0;
              for (let i = 0; i < d; i++) dot += qh[i] * keys[(g * N + n) * d + i];
              expect(dot).toBeLessThanOrEqual(score + 1e-4);
            }
          }
        }
      }
      tf.dispose(boxes);
    });
  });

  it('ClusterKV with scoring bound selects the clusters with the largest bound, to the budget, the last cut', async () => {
    await withBackend(backend, async () => {
      const info = { layer: 2, heads: 4, kvHeads: 2, headDim: 8 };
      const [H, G, d] = [info.heads, info.kvHeads, info.headDim];
      const [P, sinks, budget] = [96, 4, 20];
      const keys = normals(G * (P + 1) * d, 31);
      const values = normals(G * (P + 1) * d, 32);
      const q = normals(H * d, 33);
      const rows = (x: Float32Array, from: number, n: number) => {
        const out = new Float32Array(G * n * d);
        for (let g = 0; g < G; g++) out.set(x.subarray((g * (P + 1) + from) * d, (g * (P + 1) + from + n) * d), g * n * d);
        return tf.tensor3d(out, [G, n, d]);
      };
      const layer = createMethod('clusterkv', { budget, sinks, tokensPerCluster: 8, iters: 3, scoring: 'bound' }).forLayer(info) as ClusterKVLayer;
      const [k0, v0, k1, v1, qT] = [rows(keys, 0, P), rows(values, 0, P), rows(keys, P, 1), rows(values, P, 1), tf.tensor2d(q, [H, d])];
      layer.prefill(k0, v0);
      const { index } = layer.state;
      const K = index.clusters;
      expect(K).toBe(Math.ceil((P - sinks) / 8));
      const [sorted, sizes, offsets] = (await Promise.all([index.sortedTokens.array(), index.sizes.array(), index.offsets.array()])) as number[][][];
      const sel = await layer.step(qT, k1, v1);
      const tokens = (await sel.tokens.array()) as number[][];
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        // membership from the layer's own index (the K-means is tested elsewhere); boxes and ranking from the definition
        const labels = new Int32Array(P).fill(-1);
        for (let c = 0; c < K; c++) for (let j = 0; j < sizes[g][c]; j++) labels[sorted[g][offsets[g][c] + j]] = c;
        const headKeys = keys.subarray(g * (P + 1) * d, g * (P + 1) * d + P * d);
        const boxes = refBoxes(headKeys, labels, P, d, K);
        const qh = q.subarray(h * d, (h + 1) * d);
        // refSelect ranks by q . centroid: pass the mapped query and the boxes as 2d-dimensional "centroids"
        const mapped = [...Array.from(qh, (x) => Math.max(x, 0)), ...Array.from(qh, (x) => Math.min(x, 0))];
        const refIndex: RefIndex = { sortedTokens: sorted[g], sizes: sizes[g], offsets: offsets[g] };
        const want = refSelect(mapped, boxes.flat(), K, 2 * d, refIndex, budget);
        // the mapped ranking is the bound's ranking
        const byBound = Array.from({ length: K }, (_, c) => c).sort((a, b) => refBound(qh, boxes[b], d) - refBound(qh, boxes[a], d) || a - b);
        expect(want.clusters).toEqual(byBound.slice(0, want.clusters.length));
        const chosen = tokens[h].filter((t) => t >= sinks && t < P).sort((a, b) => a - b);
        expect(chosen).toEqual([...want.tokens].sort((a, b) => a - b));
        expect(tokens[h].filter((t) => t < sinks || t >= P).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, P]);
      }
      tf.dispose([k0, v0, k1, v1, qT, sel.tokens]);
      layer.dispose();
    });
  });
});
