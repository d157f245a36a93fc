/**
 * The sweep's hot-path rewrites on wasm (issue 13) compute what they replaced, bit for bit: the step's full
 * output from the weights computed once, several selections scored in one batch, the layer driver's
 * host-copied positions; and ClusterKV's per-KV-head K-means on wasm against the batched one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { denseAttention } from '../../src/gpu/attention.js';
import { cosineKMeans } from '../../src/gpu/kmeans.js';
import { driveLayer } from '../../src/sim/layer-driver.js';
import { disposeReference, referenceAttention, selectionMetrics, selectionsMetrics } from '../../src/sim/metrics.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { ClusterKVLayer } from '../../src/sim/methods/clusterkv/layer.js';
import { clusteringSeed } from '../../src/sim/methods/clusterkv/plan.js';
import { TraceReader } from '../../src/trace/index.js';
import { mulberry32, randomNormalArray } from '../reference/metrics.js';
import { smallTrace } from '../helpers/traces.js';

const H = 6;
const G = 2;
const T = 300;
const d = 16;

beforeAll(async () => {
  await useBackend('wasm');
});

function randomTokens(rand: () => number, n: number): tf.Tensor2D {
  const rows = Array.from({ length: H }, () => {
    const all = Array.from({ length: T }, (_, t) => t);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, n);
  });
  return tf.tensor2d(rows, [H, n], 'int32');
}

describe('sweep hot paths on wasm', () => {
  it('the reference output is denseAttention bit for bit, and a batch of selections scores as each alone', async () => {
    const rand = mulberry32(11);
    const q = tf.tensor2d(randomNormalArray(H * d, rand, 2), [H, d]);
    const keys = tf.tensor3d(randomNormalArray(G * T * d, rand), [G, T, d]);
    const values = tf.tensor3d(randomNormalArray(G * T * d, rand), [G, T, d]);
    const ref = referenceAttention(q, keys, values);
    const dense = denseAttention(q, keys, values);
    expect(Array.from(ref.output.dataSync())).toEqual(Array.from(dense.dataSync()));
    const selections = [randomTokens(rand, 20), randomTokens(rand, 75), randomTokens(rand, 140)];
    const all = tf.tile(tf.expandDims(tf.range(0, T, 1, 'int32'), 0), [H, 1]) as tf.Tensor2D;
    const batch = await selectionsMetrics(ref, keys, values, [...selections.map((tokens) => ({ tokens })), { tokens: all, dense: true }]);
    for (let i = 0; i < selections.length; i++) expect(batch[i]).toEqual(await selectionMetrics(ref, keys, values, selections[i]));
    expect(batch[3]).toEqual(await selectionMetrics(ref, keys, values, all, true));
    expect(batch[3][0].massRecall).toBe(1);
    disposeReference(ref);
    tf.dispose([q, keys, values, dense, all, ...selections]);
  });

  it("the layer driver's positions are the slices of the layer's tensors", async () => {
    const trace = await smallTrace({ steps: 4 });
    const reader = await TraceReader.open(trace);
    const data = await reader.readLayer(1);
    let layer: { keys: tf.Tensor3D; values: tf.Tensor3D } | undefined;
    let fed = reader.manifest.prefillLength;
    let checked = 0;
    await driveLayer(reader.manifest, 1, data, [createMethod('full')], 3, {
      begin: (t) => {
        layer = t;
      },
      stepStart: (s) => {
        const same = (got: tf.Tensor3D, x: tf.Tensor3D, start: number, n: number) => {
          const want = tf.slice(x, [0, start, 0], [-1, n, -1]);
          expect(got.shape).toEqual(want.shape);
          expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
          want.dispose();
        };
        same(s.visibleK, layer!.keys, 0, s.position + 1);
        same(s.visibleV, layer!.values, 0, s.position + 1);
        same(s.kNew, layer!.keys, fed, s.position + 1 - fed);
        same(s.vNew, layer!.values, fed, s.position + 1 - fed);
        fed = s.position + 1;
        checked++;
      },
    });
    expect(checked).toBe(4);
    await reader.close();
  });

  it("ClusterKV's K-means one KV head at a time on wasm matches the batched K-means", async () => {
    const trace = await smallTrace({ context: 1024 });
    const reader = await TraceReader.open(trace);
    const data = await reader.readLayer(1);
    const { kvHeads, headDim, heads } = reader.manifest.model;
    const P = reader.manifest.prefillLength;
    const keys = tf.tensor3d(data.k, [kvHeads, reader.manifest.contextLength, headDim]);
    const values = tf.tensor3d(data.v, [kvHeads, reader.manifest.contextLength, headDim]);
    const method = createMethod('clusterkv', { budget: 64, clusters: 24, denseLayers: 0, seed: 5 });
    const layer = method.forLayer({ layer: 1, heads, kvHeads, headDim }) as ClusterKVLayer;
    const prompt = tf.slice(keys, [0, 0, 0], [-1, P, -1]) as tf.Tensor3D;
    layer.prefill(prompt, tf.slice(values, [0, 0, 0], [-1, P, -1]) as tf.Tensor3D);
    const sinks = Number(method.params.sinks);
    const batched = cosineKMeans(tf.slice(prompt, [0, sinks, 0], [-1, P - sinks, -1]) as tf.Tensor3D, 24, { iters: Number(method.params.iters), seed: clusteringSeed({ seed: 5 }, 1) });
    const perHead = layer.state.centroids.dataSync();
    const want = batched.centroids.dataSync();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(perHead[i] - want[i]) / Math.max(1, Math.abs(want[i])));
    expect(worst).toBeLessThan(1e-5); // only the matMuls' summation order differs
    // the same clusters: sizes per KV head equal
    expect(Array.from(layer.state.index.sizes.dataSync())).toEqual(Array.from(tf.sum(tf.oneHot(batched.labels, 24), 1).dataSync()));
    layer.dispose();
    tf.dispose([keys, values, prompt, batched.centroids, batched.labels]);
    await reader.close();
  });
});
