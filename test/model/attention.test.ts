/**
 * The model's attention: chunked causal attention vs a plain-TypeScript reference; the pluggable decode
 * attention seam (a Method's selectors) against dense: the 'full' method must reproduce dense exactly, a
 * sparse method must run without leaking tensors and report KL / top-1 / perplexity.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { causalAttention } from '../../src/model/causal-attention.js';
import { compareGeneration, teacherForcedPerplexity } from '../../src/model/compare.js';
import { generate } from '../../src/model/generate.js';
import { KvHeadCaches } from '../../src/model/layer-attention.js';
import { createSampler } from '../../src/model/sampling.js';
import { encodePrefix, readText } from '../../src/model/texts.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { causalAttentionReference } from '../reference/causal-attention.js';
import { useStories260K } from '../helpers/stories.js';


function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return a / 2147483648 - 0.5;
  };
}

/** Causal attention of q [n, H, d] over k, v [n', G, d] rows (test/reference/causal-attention.ts). */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, n: number, H: number, G: number, d: number, start: number): Float64Array {
  return causalAttentionReference(q, k, v, (j, g) => (j * G + g) * d, n, H, G, d, start);
}

describe.each(['wasm', 'cpu'])('model attention on %s', (backend) => {
  const stories = useStories260K(backend);

  it('chunked causal attention equals the reference, for a block after cached keys and a decode step', () => {
    const [H, G, d, cached, n] = [6, 2, 16, 7, 13];
    const T = cached + n;
    const rand = seeded(3);
    const k = Float32Array.from({ length: T * G * d }, rand);
    const v = Float32Array.from({ length: T * G * d }, rand);
    const q = Float32Array.from({ length: n * H * d }, rand);
    const cache = new KvHeadCaches();
    cache.append(tf.tensor3d(k, [T, G, d]), tf.tensor3d(v, [T, G, d]));
    for (const maxScores of [H * T * 3, 1 << 22]) {
      // H * T * 3 scores: chunks of 3 queries
      const out = causalAttention(tf.tensor3d(q, [n, H, d]), cache.heads, cached, maxScores);
      const got = out.dataSync();
      const want = reference(q, k, v, n, H, G, d, cached);
      expect(Math.max(...Array.from(got, (x, i) => Math.abs(x - want[i])))).toBeLessThan(1e-5);
    }
    const last = causalAttention(tf.tensor3d(q.subarray((n - 1) * H * d), [1, H, d]), cache.heads, T - 1).dataSync();
    const want = reference(q, k, v, n, H, G, d, cached).subarray((n - 1) * H * d);
    expect(Math.max(...Array.from(last, (x, i) => Math.abs(x - want[i])))).toBeLessThan(1e-5);
    cache.dispose();
  });

  it("the 'full' method through the selector seam reproduces dense generation exactly", async () => {
    const [model, tok] = [stories.model(), stories.tok()];
    const prompt = tok.encode('Once upon a time, there was a cat');
    const dense = await generate(model.session(), prompt, { steps: 30, sampler: createSampler(0, 0) });
    const viaSeam = await compareGeneration(model, createMethod('full'), prompt, { steps: 30, sampler: createSampler(0, 0) });
    expect(viaSeam.ids).toEqual(dense.ids);
    expect(viaSeam.comparison.top1Agreement).toBe(1);
    expect(viaSeam.comparison.maxKl).toBeLessThan(1e-6);
  });

  it('a sparse method decodes without leaking tensors and is compared with dense', async () => {
    const [model, tok] = [stories.model(), stories.tok()];
    const text = (await readText('moby-dick')).text;
    const tokens = encodePrefix(tok, text, 240);
    const method = createMethod('clusterkv', { budget: 32, clusters: 4, sinks: 4, window: 16, denseLayers: 1 });
    const session = model.session(method);
    (await session.forward(tokens.slice(0, 200), true)).dispose();
    const counts: number[] = [];
    for (let p = 200; p < 240; p++) {
      (await session.step(tokens[p])).dispose();
      counts.push(tf.memory().numTensors);
    }
    session.dispose();
    // the selectors' state may grow when a decode window closes, but not per step: compare the last 10 steps
    expect(new Set(counts.slice(-10)).size).toBe(1);
    const r = await teacherForcedPerplexity(model, tokens, 200, method);
    const full = await teacherForcedPerplexity(model, tokens, 200, createMethod('full'));
    expect(full.sparsePerplexity).toBeCloseTo(full.densePerplexity, 4);
    expect(r.densePerplexity).toBeCloseTo(full.densePerplexity, 6);
    expect(r.comparison!.steps).toHaveLength(40);
    expect(r.comparison!.meanKl).toBeGreaterThan(0);
    expect(r.comparison!.top1Agreement).toBeGreaterThan(0.5);
    expect(Number.isFinite(r.sparsePerplexity)).toBe(true);
  });
});
