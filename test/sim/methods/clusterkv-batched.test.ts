/**
 * ClusterKV's batched form (src/sim/methods/clusterkv/batched.ts, the decode engine's per-layer state) against
 * the tfjs layer (layer.ts) on the software WebGPU adapter: B sequences' keys through one BatchedClusterKV
 * and through one ClusterKVLayer each give the same clusters (centroids, sizes, offsets, sorted tokens: the
 * buffers the engine's select kernel binds), the same step plan and the same selections, from the prompt
 * through closing decode windows; also with a prompt inside the sinks (no prompt clusters).
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeClusterSelection, selectClusters } from '../../../src/gpu/selection.js';
import { BatchedClusterKV } from '../../../src/sim/methods/clusterkv/batched.js';
import type { ClusterKVLayer } from '../../../src/sim/methods/clusterkv/layer.js';
import { clusterkvParams } from '../../../src/sim/methods/clusterkv/plan.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { worstRelative } from '../../helpers/tensors.js';
import { normals } from '../../reference/clusterkv.js';

const skip = await softwareWebgpu();

const B = 2;
const info = { layer: 3, heads: 4, kvHeads: 2, headDim: 8 };
const [H, G, d] = [info.heads, info.kvHeads, info.headDim];

/** Rows of sequence b's KV heads out of a batched tensor [B G, n, ...]. */
const ofSequence = <T extends tf.Tensor>(t: T, b: number): T => tf.slice(t, [b * G], [G]) as T;

async function expectSameClusters(layers: ClusterKVLayer[], batched: BatchedClusterKV): Promise<void> {
  const state = batched.state;
  for (let b = 0; b < B; b++) {
    const want = layers[b];
    expect(batched.clusters).toBe(want.clusterCount);
    if (want.clusterCount === 0) {
      expect(state).toBeNull();
      expect(batched.bindings).toBeNull();
      continue;
    }
    expect(state).not.toBeNull();
    expect(batched.bindings).not.toBeNull();
    const { centroids, index } = want.state;
    const got = state!;
    expect(got.index.tokens).toBe(index.tokens);
    for (const key of ['sortedTokens', 'sizes', 'offsets'] as const) {
      const part = ofSequence(got.index[key], b);
      expect(Array.from(await part.data()), key).toEqual(Array.from(await index[key].data()));
      part.dispose();
    }
    const c = ofSequence(got.centroids, b);
    expect(worstRelative(await c.data(), await centroids.data())).toBeLessThan(1e-6);
    c.dispose();
  }
}

describe.skipIf(!!skip)('batched ClusterKV on the software WebGPU adapter', () => {
  it.each([
    { name: 'prompt after the sinks', P: 30, steps: 20 },
    { name: 'prompt inside the sinks', P: 3, steps: 14 },
  ])('equals ClusterKVLayer per sequence: clusters, step plans and selections ($name)', async ({ P, steps }) => {
    const params = { budget: 8, sinks: 4, window: 6, windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false, denseLayers: 0 };
    const method = createMethod('clusterkv', params);
    const T = P + steps;
    const before = tf.memory().numTensors;
    // per sequence b: keys and values [G, T, d]; queries [steps, H, d]
    const keys = Array.from({ length: B }, (_, b) => tf.tensor3d(normals(G * T * d, 11 + b), [G, T, d]));
    const vals = Array.from({ length: B }, (_, b) => tf.tensor3d(normals(G * T * d, 21 + b), [G, T, d]));
    const queries = Array.from({ length: B }, (_, b) => normals(steps * H * d, 31 + b));
    const allKeys = tf.concat(keys, 0) as tf.Tensor3D; // [B G, T, d]
    const layers = Array.from({ length: B }, () => method.forLayer(info) as ClusterKVLayer);
    const batched = new BatchedClusterKV(clusterkvParams(method), info.layer, B, (start, n) => tf.slice(allKeys, [0, start, 0], [-1, n, -1]) as tf.Tensor3D);
    try {
      for (let b = 0; b < B; b++) {
        const [k, v] = [tf.slice(keys[b], [0, 0, 0], [G, P, d]), tf.slice(vals[b], [0, 0, 0], [G, P, d])] as tf.Tensor3D[];
        layers[b].prefill(k, v);
        tf.dispose([k, v]);
      }
      batched.clusterPrompt(P);
      await expectSameClusters(layers, batched);
      const versions = new Set([batched.version]);
      for (let t = 0; t < steps; t++) {
        const pos = P + t;
        const q = queries.map((x) => tf.tensor2d(x.subarray(t * H * d, (t + 1) * H * d), [H, d]));
        const want: number[][][] = [];
        const wantSelected: number[] = [];
        for (let b = 0; b < B; b++) {
          const [k, v] = [tf.slice(keys[b], [0, pos, 0], [G, 1, d]), tf.slice(vals[b], [0, pos, 0], [G, 1, d])] as tf.Tensor3D[];
          const sel = await layers[b].step(q[b], k, v);
          want.push((await sel.tokens.array()) as number[][]);
          wantSelected.push(sel.selectedCount);
          tf.dispose([k, v, sel.tokens]);
        }
        const plan = batched.step(pos, params.budget);
        versions.add(batched.version);
        await expectSameClusters(layers, batched);
        expect(plan.clusters).toBe(batched.clusters);
        expect(plan.indexed).toBe(plan.layout.openStart - plan.layout.sinkEnd);
        expect(plan.selected).toBe(wantSelected[0]);
        expect(plan.listLength).toBe(want[0][0].length);
        // the selection through the batched clusters, every sequence at once ([B H, d] queries), as the
        // engine's list: sinks, the selected positions, the open window up to the current token
        let selected: number[][] = Array.from({ length: B * H }, () => []);
        if (plan.selected > 0) {
          const qAll = tf.concat(q, 0) as tf.Tensor2D;
          const s = selectClusters(qAll, batched.state!.centroids, batched.state!.index, plan.selected);
          selected = (await s.tokens.array()) as number[][];
          disposeClusterSelection(s);
          qAll.dispose();
        }
        const { sinkEnd, openStart } = plan.layout;
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            const list = [...Array.from({ length: sinkEnd }, (_, i) => i), ...selected[b * H + h], ...Array.from({ length: pos - openStart + 1 }, (_, i) => openStart + i)];
            expect(list, `step ${t}, sequence ${b}, head ${h}`).toEqual(want[b][h]);
          }
        }
        tf.dispose(q);
      }
      // prompt (when it has clusters) and each of the closed windows changed the clusters
      expect(batched.version).toBe((P > params.sinks ? 1 : 0) + Math.floor((steps - 1) / params.window));
      expect(versions.size).toBe(batched.version + (P > params.sinks ? 0 : 1));
    } finally {
      batched.dispose();
      for (const l of layers) l.dispose();
      tf.dispose([...keys, ...vals, allKeys]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bound scoring (the engine scores centroids only)', () => {
    const method = createMethod('clusterkv', { budget: 8, scoring: 'bound' });
    expect(() => new BatchedClusterKV(clusterkvParams(method), 0, 1, () => tf.zeros([1, 1, 1]) as tf.Tensor3D)).toThrow(/scoring 'bound' is not supported/);
  });
});
