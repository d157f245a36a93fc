/**
 * ClusterKV's batched form (src/sim/methods/clusterkv/batched.ts, the decode engine's per-layer selector)
 * against the tfjs layer (layer.ts) on the software WebGPU adapter: B sequences' keys through one
 * BatchedClusterKV and through one ClusterKVLayer each give the same clusters (centroids, the boxes of
 * scoring 'bound', sizes, offsets, sorted tokens: what the select kernel binds) and the same step plans,
 * from the prompt through closing decode windows; also with a prompt inside the sinks (no prompt clusters).
 * The selections themselves are compared for every method in batched-selection.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BatchedHarness, parityInputs, rowsOf } from '../../../src/sim/batched-parity.js';
import { BatchedClusterKV } from '../../../src/sim/methods/clusterkv/batched.js';
import type { ClusterKVLayer } from '../../../src/sim/methods/clusterkv/layer.js';
import { clusterkvParams } from '../../../src/sim/methods/clusterkv/plan.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { worstRelative } from '../../helpers/tensors.js';

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
      continue;
    }
    expect(state).not.toBeNull();
    const { centroids, boxes, index } = want.state;
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
    expect(got.boxes === null).toBe(boxes === null);
    if (got.boxes && boxes) {
      const x = ofSequence(got.boxes, b);
      expect(Array.from(await x.data()), 'boxes').toEqual(Array.from(await boxes.data()));
      x.dispose();
    }
  }
}

describe.skipIf(!!skip)('batched ClusterKV on the software WebGPU adapter', () => {
  it.each([
    { name: 'prompt after the sinks', P: 30, steps: 20, scoring: 'centroid' },
    { name: 'prompt after the sinks, bound scoring', P: 30, steps: 14, scoring: 'bound' },
    { name: 'prompt inside the sinks', P: 3, steps: 14, scoring: 'centroid' },
  ])('equals ClusterKVLayer per sequence: clusters and step plans ($name)', async ({ P, steps, scoring }) => {
    const params = { budget: 8, sinks: 4, window: 6, windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false, denseLayers: 0, scoring };
    const method = createMethod('clusterkv', params);
    const before = tf.memory().numTensors;
    const { T, keys, values, queries } = parityInputs({ batch: B, heads: H, kvHeads: G, headDim: d, prompt: P, steps, seed: 11 });
    const harness = new BatchedHarness({ ...info, batch: B, capacity: T }, params.budget, params.sinks + params.budget + params.window + 1);
    const layers = Array.from({ length: B }, () => method.forLayer(info) as ClusterKVLayer);
    const batched = new BatchedClusterKV(clusterkvParams(method), harness.layer);
    try {
      for (let b = 0; b < B; b++) {
        const [k, v] = [tf.tensor3d(rowsOf(keys[b], G, T, d, 0, P), [G, P, d]), tf.tensor3d(rowsOf(values[b], G, T, d, 0, P), [G, P, d])];
        layers[b].prefill(k, v);
        tf.dispose([k, v]);
      }
      harness.writeKeys(keys, 0, P);
      batched.prefill(P);
      await expectSameClusters(layers, batched);
      const versions = new Set([batched.version]);
      for (let t = 0; t < steps; t++) {
        const pos = P + t;
        const wantSelected: number[] = [];
        const wantLength: number[] = [];
        for (let b = 0; b < B; b++) {
          const [q, k, v] = [tf.tensor2d(queries[b][t], [H, d]), tf.tensor3d(rowsOf(keys[b], G, T, d, pos, 1), [G, 1, d]), tf.tensor3d(rowsOf(values[b], G, T, d, pos, 1), [G, 1, d])];
          const sel = await layers[b].step(q, k, v);
          wantSelected.push(sel.selectedCount);
          wantLength.push(sel.tokens.shape[1]);
          tf.dispose([q, k, v, sel.tokens]);
        }
        harness.writeKeys(keys, pos, 1);
        const plan = batched.step(pos, params.budget);
        versions.add(batched.version);
        await expectSameClusters(layers, batched);
        expect(plan.units).toBe(batched.clusters);
        expect(batched.indexed).toBe(plan.layout.openStart - plan.layout.sinkEnd);
        expect(plan.selected).toBe(wantSelected[0]);
        expect(plan.listLength).toBe(wantLength[0]);
        expect(plan.dispatches.length).toBe(plan.selected === 0 ? 0 : scoring === 'bound' ? 2 : 1);
      }
      // prompt (when it has clusters) and each of the closed windows changed the clusters
      expect(batched.version).toBe((P > params.sinks ? 1 : 0) + Math.floor((steps - 1) / params.window));
      expect(versions.size).toBe(batched.version + (P > params.sinks ? 0 : 1));
    } finally {
      batched.dispose();
      harness.destroy();
      for (const l of layers) l.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
