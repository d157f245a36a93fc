/**
 * The WebGPU decode engine (src/model/engine) on the software WebGPU adapter, against the tfjs model path on the
 * same backend with the same weights (stories260K, a real trained Llama: GQA 8:4, head dim 8):
 *   dense     every position's logits, token by token through the engine, equal the tfjs forward pass
 *   clusterkv prompt clustering and decode steps through closing windows equal SelectorLayerAttention with
 *             createMethod('clusterkv', ...), and differ from dense (the budget really cuts)
 * Two sequences per batch, so the batched layout (B G KV heads in one cache buffer) is exercised.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { teacherForcedLogits } from '../../../src/model/compare.js';
import { DecodeEngine } from '../../../src/model/engine/decode-engine.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { storiesOnEngine } from '../../helpers/engine-model.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { worstRelative } from '../../helpers/tensors.js';
import { lcgTokens } from '../../helpers/tokens.js';

const skip = await softwareWebgpu();

const prompt = lcgTokens;


function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

describe.skipIf(!!skip)('decode engine on the software WebGPU adapter', () => {
  const stories = storiesOnEngine();

  it('dense: the logits of every position equal the tfjs forward pass (batch 2), and argmax picks their top token', async () => {
    const V = stories.model.config.vocabSize;
    const n = 24;
    const prompts = [prompt(n, V, 1), prompt(n, V, 2)];
    const want = await Promise.all(
      prompts.map(async (p) => {
        const session = stories.model.session('dense');
        const logits = await session.forward(p);
        const data = await logits.data();
        logits.dispose();
        session.dispose();
        return data;
      }),
    );
    const before = tf.memory().numTensors;
    const engine = new DecodeEngine({ weights: stories.weights, batch: 2, capacity: n, maxSteps: n });
    let worstSeen = 0;
    for (let i = 0; i < n; i++) {
      engine.step({ tokens: [prompts[0][i], prompts[1][i]] });
      const got = await engine.readLogits();
      for (let b = 0; b < 2; b++) worstSeen = Math.max(worstSeen, worstRelative(got.subarray(b * V, (b + 1) * V), want[b].subarray(i * V, (i + 1) * V)));
    }
    expect(worstSeen).toBeLessThan(1e-4);
    const history = await engine.readHistory();
    for (let i = 0; i < n; i++) for (let b = 0; b < 2; b++) expect(history[i][b]).toBe(argmax(want[b].subarray(i * V, (i + 1) * V)));
    engine.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('clusterkv: prompt clustering and decode steps through closing windows equal the tfjs ClusterKV path, and differ from dense', async () => {
    const V = stories.model.config.vocabSize;
    const P = 40;
    const steps = 12;
    const params = { budget: 8, sinks: 4, window: 4, windowClusters: 2, tokensPerCluster: 6, denseLayers: 1, iters: 5, seed: 3, diagnostics: false };
    const method = createMethod('clusterkv', params);
    const prompts = [prompt(P, V, 5), prompt(P, V, 6)];
    const next = [prompt(steps, V, 7), prompt(steps, V, 8)];
    const run = (choice: 'dense' | typeof method, b: number) => teacherForcedLogits(stories.model, choice, prompts[b], next[b]);
    const sparse = [await run(method, 0), await run(method, 1)];
    const dense = [await run('dense', 0)];
    const before = tf.memory().numTensors;
    const engine = new DecodeEngine({ weights: stories.weights, batch: 2, capacity: P + steps, maxSteps: P + steps, method });
    for (let i = 0; i < P; i++) engine.step({ tokens: [prompts[0][i], prompts[1][i]] });
    await engine.prefillSelection();
    let worstSparse = 0;
    let fromDense = 0;
    const clusters: number[] = [];
    for (let i = 0; i < steps; i++) {
      const info = engine.step({ attention: 'sparse', tokens: [next[0][i], next[1][i]] });
      expect(info.selected).toBe(8);
      clusters.push(info.clusters);
      const got = await engine.readLogits();
      for (let b = 0; b < 2; b++) worstSparse = Math.max(worstSparse, worstRelative(got.subarray(b * V, (b + 1) * V), sparse[b][i]));
      fromDense = Math.max(fromDense, worstRelative(got.subarray(0, V), dense[0][i]));
    }
    expect(worstSparse).toBeLessThan(1e-4);
    expect(fromDense).toBeGreaterThan(1e-2);
    // C0 = ceil(36 / 6) prompt clusters, then 2 more per closed window of 4
    expect(clusters).toEqual([6, 6, 6, 6, 8, 8, 8, 8, 10, 10, 10, 10]);
    engine.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
