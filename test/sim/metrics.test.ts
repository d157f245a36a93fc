import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { disposeReference, referenceAttention, selectionMetrics, tokensLoadedPerKvHead } from '../../src/sim/metrics.js';
import { LOCAL_BACKENDS, withBackend } from '../helpers/backend.js';
import { mulberry32, randomNormalArray, referenceStepMetrics } from '../reference/metrics.js';

const H = 4;
const G = 2;
const T = 200;
const d = 16;

function randomSelection(rand: () => number, n: number): number[][] {
  return Array.from({ length: H }, () => {
    const all = Array.from({ length: T }, (_, t) => t);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, n);
  });
}

/**
 * A random step from `seed`: q, K and V drawn, then `selection` [H][n] from the same stream; its metrics
 * (selectionMetrics) and the data the plain-TS reference scores.
 */
async function randomStepMetrics(seed: number, selection: (rand: () => number) => number[][]) {
  const rand = mulberry32(seed);
  const qData = randomNormalArray(H * d, rand, 2);
  const kData = randomNormalArray(G * T * d, rand);
  const vData = randomNormalArray(G * T * d, rand);
  const sel = selection(rand);
  const q = tf.tensor2d(qData, [H, d]);
  const keys = tf.tensor3d(kData, [G, T, d]);
  const values = tf.tensor3d(vData, [G, T, d]);
  const tokens = tf.tensor2d(sel, [H, sel[0].length], 'int32');
  const ref = referenceAttention(q, keys, values);
  const got = await selectionMetrics(ref, keys, values, tokens);
  disposeReference(ref);
  tf.dispose([q, keys, values, tokens]);
  return { got, qData, kData, vData, sel };
}

describe.each(LOCAL_BACKENDS)('step metrics on %s', (backend) => {
  it('match the plain-TypeScript reference for random selections', async () => {
    await withBackend(backend, async () => {
      const { got, qData, kData, vData, sel } = await randomStepMetrics(7, (rand) => randomSelection(rand, 37));
      const want = referenceStepMetrics(qData, kData, vData, H, G, T, d, sel);
      for (let h = 0; h < H; h++) {
        expect(got[h].massRecall).toBeCloseTo(want[h].massRecall, 5);
        expect(got[h].topkRecall).toBeCloseTo(want[h].topkRecall, 6);
        expect(got[h].outputRelError).toBeCloseTo(want[h].outputRelError, 4);
        expect(got[h].outputCosine).toBeCloseTo(want[h].outputCosine, 5);
        expect(got[h].density).toBeCloseTo(37 / T, 9);
        expect(got[h].tokensAttended).toBe(37);
      }
      // mass recall is a fraction of the mass, and a random 37 of 200 keeps well under all of it
      expect(Math.max(...got.map((m) => m.massRecall))).toBeLessThan(0.9);
    });
  });

  it('skip empty slots (negative positions): each head is scored on its own set, as the reference scores it', async () => {
    await withBackend(backend, async () => {
      // per head 40 slots, head h keeping 40 - 12h of them (head 3: 4), the empty ones spread among the kept
      const n = 40;
      const padded = (rand: () => number) => randomSelection(rand, n).map((row, h) => row.map((t, j) => ((j * 7) % n < n - 12 * h ? t : -1)));
      const { got, qData, kData, vData, sel } = await randomStepMetrics(9, padded);
      const sets = sel.map((row) => row.filter((t) => t >= 0));
      const want = referenceStepMetrics(qData, kData, vData, H, G, T, d, sets);
      for (let h = 0; h < H; h++) {
        expect(sets[h].length).toBe(n - 12 * h);
        expect(got[h].massRecall).toBeCloseTo(want[h].massRecall, 5);
        expect(got[h].topkRecall).toBeCloseTo(want[h].topkRecall, 6);
        expect(got[h].outputRelError).toBeCloseTo(want[h].outputRelError, 4);
        expect(got[h].outputCosine).toBeCloseTo(want[h].outputCosine, 5);
        expect(got[h].density).toBeCloseTo(sets[h].length / T, 9);
        expect(got[h].tokensAttended).toBe(sets[h].length);
        const group = H / G;
        const g = Math.floor(h / group);
        expect(got[h].tokensLoaded).toBe(new Set(sets.slice(g * group, (g + 1) * group).flat()).size);
      }
    });
  });

  it('give exact recall and zero error for the full set', async () => {
    await withBackend(backend, async () => {
      const rand = mulberry32(3);
      const q = tf.tensor2d(randomNormalArray(H * d, rand), [H, d]);
      const keys = tf.tensor3d(randomNormalArray(G * T * d, rand), [G, T, d]);
      const values = tf.tensor3d(randomNormalArray(G * T * d, rand), [G, T, d]);
      const tokens = tf.tile(tf.expandDims(tf.range(0, T, 1, 'int32'), 0), [H, 1]) as tf.Tensor2D;
      const ref = referenceAttention(q, keys, values);
      const got = await selectionMetrics(ref, keys, values, tokens);
      disposeReference(ref);
      tf.dispose([q, keys, values, tokens]);
      for (const m of got) {
        expect(m.massRecall).toBeCloseTo(1, 5);
        expect(m.topkRecall).toBe(1);
        expect(m.outputRelError).toBeLessThan(1e-5);
        expect(m.outputCosine).toBeCloseTo(1, 5);
        expect(m.density).toBe(1);
      }
    });
  });
});

describe('GQA accounting', () => {
  it('counts the union of the query heads of each KV head', () => {
    // H=4, G=2, n=3: heads 0,1 share KV head 0; heads 2,3 share KV head 1
    const tokens = Int32Array.from([0, 1, 2, 1, 2, 3, 5, 6, 7, 5, 6, 7]);
    expect(tokensLoadedPerKvHead(tokens, 4, 3, 2)).toEqual([4, 3]);
  });

  it('counts no empty slot (negative position)', () => {
    const tokens = Int32Array.from([0, 1, -1, 1, -1, -1, 5, 6, 7, -1, -1, -1]);
    expect(tokensLoadedPerKvHead(tokens, 4, 3, 2)).toEqual([2, 3]);
  });
});
