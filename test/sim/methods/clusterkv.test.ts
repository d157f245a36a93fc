/** ClusterKV's layer through decode (windows, budget, leaks), the clusterkv method, and the cache policies. */
import * as tf from '@tensorflow/tfjs-core';
import { createMethod } from '../../../src/sim/methods/index.js';
import { describe, expect, it } from 'vitest';
import { lastRSteps, lru } from '../../../src/sim/cache/index.js';
import type { ClusterKVLayer } from '../../../src/sim/methods/clusterkv/layer.js';
import type { ParamValue } from '../../../src/sim/selector.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { normals, refAttend } from '../../reference/clusterkv.js';

const info = { layer: 3, heads: 4, kvHeads: 2, headDim: 8 };
const [G, H, d] = [info.kvHeads, info.heads, info.headDim];

/** A stream of keys/values/queries with the full KV kept host-side for references. */
function stream(P: number, steps: number, seed: number) {
  const T = P + steps;
  return { T, keys: normals(G * T * d, seed), values: normals(G * T * d, seed + 1), queries: normals(steps * H * d, seed + 2) };
}
const rows = (x: Float32Array, T: number, from: number, n: number) => {
  const out = new Float32Array(G * n * d);
  for (let g = 0; g < G; g++) out.set(x.subarray((g * T + from) * d, (g * T + from + n) * d), g * n * d);
  return tf.tensor3d(out, [G, n, d]);
};
/** ClusterKV's selector for a sparse layer (layer 3 >= denseLayers). */
const clusterkvLayer = (params: Record<string, ParamValue>) => createMethod('clusterkv', params).forLayer(info) as ClusterKVLayer;
const clusterkvMethod = (params: Record<string, ParamValue>) => createMethod('clusterkv', params);
const headKV = (x: Float32Array, T: number, h: number) => x.subarray(Math.floor(h / (H / G)) * T * d, (Math.floor(h / (H / G)) + 1) * T * d);

describe.each(LOCAL_BACKENDS)('ClusterKV layer on %s', (backend) => {
  it('decodes through closing windows: layout, attention and no tensor leak', async () => {
    await withBackend(backend, async () => {
      const steps = backend === 'wasm' ? 420 : 90;
      const [P, sinks, window, budget] = [64, 4, 32, 24];
      const s = stream(P, steps, 5);
      const params = { budget, sinks, window, windowClusters: 4, tokensPerCluster: 16, iters: 3, seed: 9 };
      const selector = clusterkvLayer(params);
      const twin = clusterkvLayer(params);
      for (const a of [selector, twin]) {
        const [k, v] = [rows(s.keys, s.T, 0, P), rows(s.values, s.T, 0, P)];
        a.prefill(k, v);
        tf.dispose([k, v]);
      }
      expect(selector.clusterCount).toBe(Math.ceil((P - sinks) / 16));
      let tensorsAfterFirst = -1;
      for (let t = 0; t < steps; t++) {
        const p = P + t;
        const [k, v, q] = [rows(s.keys, s.T, p, 1), rows(s.values, s.T, p, 1), tf.tensor2d(s.queries.subarray(t * H * d, (t + 1) * H * d), [H, d])];
        const sel = await selector.step(q, k, v);
        const out = await twin.decode(q, k, v);
        const closed = Math.floor((p - P) / window);
        const openStart = P + closed * window;
        expect(selector.clusterCount).toBe(Math.ceil((P - sinks) / 16) + 4 * closed);
        const n = sinks + budget + (p - openStart + 1);
        expect(sel.tokens.shape).toEqual([H, n]);
        expect(sel.selectedCount).toBe(budget);
        if (t % 37 === 0 || t === steps - 1) {
          const tokens = (await sel.tokens.array()) as number[][];
          const got = await out.data();
          for (let h = 0; h < H; h++) {
            const row = tokens[h];
            expect(new Set(row).size).toBe(n);
            for (let i = 0; i < sinks; i++) expect(row).toContain(i);
            for (let i = openStart; i <= p; i++) expect(row).toContain(i);
            expect(row.filter((x) => x >= sinks && x < openStart).length).toBe(budget);
            const want = refAttend(s.queries.subarray((t * H + h) * d, (t * H + h + 1) * d), headKV(s.keys, s.T, h), headKV(s.values, s.T, h), d, row);
            for (let i = 0; i < d; i++) expect(got[h * d + i]).toBeCloseTo(want[i], 4);
          }
          expect(sel.units?.ids[0].length).toBeGreaterThan(0);
          expect(sel.stats?.cacheHitRate).toBeGreaterThanOrEqual(0);
        }
        tf.dispose([k, v, q, sel.tokens, out]);
        if (t === 0) tensorsAfterFirst = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
      selector.dispose();
      twin.dispose();
    });
  });

  it('equals dense attention when the budget covers the context', async () => {
    await withBackend(backend, async () => {
      const [P, steps] = [40, 50];
      const s = stream(P, steps, 11);
      const a = clusterkvLayer({ budget: 10_000, sinks: 4, window: 16, windowClusters: 2, tokensPerCluster: 8, iters: 2 });
      const [k0, v0] = [rows(s.keys, s.T, 0, P), rows(s.values, s.T, 0, P)];
      a.prefill(k0, v0);
      let before = -1;
      for (let t = 0; t < steps; t++) {
        const p = P + t;
        const [k, v, q] = [rows(s.keys, s.T, p, 1), rows(s.values, s.T, p, 1), tf.tensor2d(s.queries.subarray(t * H * d, (t + 1) * H * d), [H, d])];
        const out = await a.decode(q, k, v);
        if (t % 7 === 0) {
          const got = await out.data();
          const all = Array.from({ length: p + 1 }, (_, i) => i);
          for (let h = 0; h < H; h++) {
            const want = refAttend(s.queries.subarray((t * H + h) * d, (t * H + h + 1) * d), headKV(s.keys, s.T, h), headKV(s.values, s.T, h), d, all);
            for (let i = 0; i < d; i++) expect(got[h * d + i]).toBeCloseTo(want[i], 4);
          }
        }
        tf.dispose([k, v, q, out]);
        if (t === 0) before = tf.memory().numTensors; // the open-window buffers exist from the first step on
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([k0, v0]);
      a.dispose();
    });
  });

  it('handles a prompt no longer than the sinks, and a fixed cluster count', async () => {
    await withBackend(backend, async () => {
      const s = stream(10, 40, 3);
      const a = clusterkvLayer({ budget: 8, sinks: 16, window: 12, windowClusters: 3, iters: 2 });
      const [k0, v0] = [rows(s.keys, s.T, 0, 10), rows(s.values, s.T, 0, 10)];
      a.prefill(k0, v0);
      expect(a.clusterCount).toBe(0);
      for (let t = 0; t < 40; t++) {
        const [k, v, q] = [rows(s.keys, s.T, 10 + t, 1), rows(s.values, s.T, 10 + t, 1), tf.tensor2d(s.queries.subarray(t * H * d, (t + 1) * H * d), [H, d])];
        const sel = await a.step(q, k, v);
        const layoutClosed = Math.floor(t / 12);
        // window 0 covers positions 10..21, of which 10..15 are sinks: 6 tokens, 3 clusters
        expect(a.clusterCount).toBe(3 * layoutClosed);
        expect(new Set(((await sel.tokens.array()) as number[][])[0]).size).toBe(sel.tokens.shape[1]);
        tf.dispose([k, v, q, sel.tokens]);
      }
      a.dispose();
      const fixed = clusterkvLayer({ budget: 8, clusters: 7 });
      fixed.prefill(k0, v0);
      expect(fixed.clusterCount).toBe(0); // 10 tokens, all sinks
      fixed.dispose();
      const tooMany = clusterkvLayer({ budget: 8, sinks: 2, clusters: 9 });
      expect(() => tooMany.prefill(k0, v0)).toThrow(/'clusters' \(9\) is more than the 8 prompt tokens/);
      tooMany.dispose();
      tf.dispose([k0, v0]);
    });
  });
});

describe('clusterkv method', () => {
  it('lists every parameter with its default (docs/DESIGN.md#parameters-of-clusterkv)', () => {
    const m = createMethod('clusterkv', { budget: 512 }); // the registry adds the shared denseLayers
    expect(m.name).toBe('clusterkv');
    expect(m.params).toMatchObject({ budget: 512, budgetMode: 'selected', sinks: 16, tokensPerCluster: 80, clusters: 0, iters: 20, window: 320, windowClusters: 4, cacheSteps: 1, cacheCapacity: 0, denseLayers: 2 });
    expect(m.budget).toBe(512);
  });

  it('rejects bad parameters, naming them', () => {
    expect(() => clusterkvMethod({ budget: 0 })).toThrow(/budget/);
    expect(() => clusterkvMethod({ budget: 8, budgetMode: 'tokens' })).toThrow(/'budgetMode' must be one of selected \| including-sinks/);
    expect(() => clusterkvMethod({ budget: 8, tokensPerCluster: 0 })).toThrow(/tokensPerCluster/);
    expect(() => clusterkvMethod({ budget: 8, clusters: -1 })).toThrow(/clusters/);
    expect(() => clusterkvMethod({ budget: 8, iters: -1 })).toThrow(/iters/);
    expect(() => clusterkvMethod({ budget: 8, window: 0 })).toThrow(/window/);
    expect(() => clusterkvMethod({ budget: 8, windowClusters: 400 })).toThrow(/windowClusters/);
    expect(() => createMethod('clusterkv', { budget: 8, denseLayers: 1.5 })).toThrow(/denseLayers/);
    expect(() => clusterkvMethod({ budget: 16, budgetMode: 'including-sinks' })).toThrow(/sinks/);
    expect(() => clusterkvMethod({ budget: 8, colour: 3 })).toThrow(/has no parameter 'colour'/);
    expect(() => clusterkvMethod({ budget: 8, scoring: 'median' })).toThrow(/'scoring' must be one of centroid \| bound/);
  });

  it('keeps layers below denseLayers dense', async () => {
    await withBackend('cpu', async () => {
      const m = createMethod('clusterkv', { budget: 4, sinks: 1, tokensPerCluster: 2, iters: 1 });
      const dense = m.forLayer({ ...info, layer: 1 });
      const sparse = m.forLayer({ ...info, layer: 2 });
      const s = stream(20, 1, 1);
      const [k0, v0, k, v, q] = [rows(s.keys, s.T, 0, 20), rows(s.values, s.T, 0, 20), rows(s.keys, s.T, 20, 1), rows(s.values, s.T, 20, 1), tf.tensor2d(s.queries, [H, d])];
      dense.prefill(k0, v0);
      sparse.prefill(k0, v0);
      const [a, b] = [await dense.step(q, k, v), await sparse.step(q, k, v)];
      expect(a.tokens.shape).toEqual([H, 21]);
      expect(b.tokens.shape).toEqual([H, 1 + 4 + 1]);
      tf.dispose([k0, v0, k, v, q, a.tokens, b.tokens]);
      dense.dispose();
      sparse.dispose();
    });
  });
});

describe('cluster cache policies', () => {
  const ids = (...x: number[]) => Int32Array.from(x);
  it('last R steps keeps what the previous R steps used', () => {
    const c = lastRSteps(1);
    expect(c.access(0, ids(1, 2), [10, 20])).toEqual({ hits: 0, misses: 2, hitBytes: 0, bytesMoved: 30 });
    expect(c.access(1, ids(2, 3), [20, 5])).toEqual({ hits: 1, misses: 1, hitBytes: 20, bytesMoved: 5 });
    expect(c.access(2, ids(1, 3), [10, 5])).toEqual({ hits: 1, misses: 1, hitBytes: 5, bytesMoved: 10 }); // 1 left after step 0
    const c2 = lastRSteps(2);
    c2.access(0, ids(1), [1]);
    c2.access(1, ids(2), [1]);
    expect(c2.access(2, ids(1, 2), [1, 1]).hits).toBe(2);
    expect(() => lastRSteps(0)).toThrow(/cacheSteps/);
  });

  it('LRU evicts the least recently used beyond capacity', () => {
    const c = lru(2);
    c.access(0, ids(1, 2), [1, 1]);
    c.access(1, ids(1), [1]); // 2 is now least recent
    c.access(2, ids(3), [1]); // evicts 2
    expect(c.access(3, ids(1, 2, 3), [1, 1, 1])).toEqual({ hits: 2, misses: 1, hitBytes: 2, bytesMoved: 1 });
    expect(() => lru(0)).toThrow(/cacheCapacity/);
  });
});
