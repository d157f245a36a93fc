/**
 * Needle recall of one observed decode step against a float64 plain-TS reference computed from q and the
 * keys (GQA: query head h reads KV head floor(h / (H / G))), and the pooling of a row's records.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../src/gpu/backend.js';
import { aggregateNeedleRecall, NeedleRecallRecorder, type NeedleRecallRecord } from '../../../src/model/passkey/needle-recall.js';
import { normals, rng } from '../../reference/clusterkv.js';

const [H, G, d, T] = [6, 2, 16, 90];
const needle = [40, 41, 42, 43, 44, 45, 46, 47];
const key = [42, 43, 46];

/** Softmax weights per head [H][T] in float64. */
function refWeights(q: Float32Array, keys: Float32Array): number[][] {
  return Array.from({ length: H }, (_, h) => {
    const g = Math.floor(h / (H / G));
    const logits = Array.from({ length: T }, (_, t) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[h * d + i] * keys[(g * T + t) * d + i];
      return s / Math.sqrt(d);
    });
    const max = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - max));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / z);
  });
}

function reference(w: number[][], sel: number[][]) {
  const sum = (h: number, set: number[], only?: Set<number>) => set.filter((p) => !only || only.has(p)).reduce((a, p) => a + w[h][p], 0);
  let [mass, nm, nk, km, kk, nc, na, kc] = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let h = 0; h < H; h++) {
    const s = new Set(sel[h]);
    mass += sum(h, [...s]);
    nm += sum(h, needle);
    nk += sum(h, needle, s);
    km += sum(h, key);
    kk += sum(h, key, s);
    const c = needle.filter((p) => s.has(p)).length / needle.length;
    nc += c;
    na += c === 1 ? 1 : 0;
    kc += key.filter((p) => s.has(p)).length / key.length;
  }
  return { massRecall: mass / H, needleMass: nm / H, needleMassRecall: nk / nm, keyMass: km / H, keyMassRecall: kk / km, needleCoverage: nc / H, needleAllSelected: na / H, keyCoverage: kc / H };
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('needle recall', () => {
  it('equals a float64 reference from q and the keys, per observed step', async () => {
    const q = normals(H * d, 1);
    const keys = normals(G * T * d, 2);
    const r = rng(3);
    // per head: a random selection of 30 positions, head 0 holding the whole needle, head 1 none of it
    const sel = Array.from({ length: H }, (_, h) => {
      const pool = Array.from({ length: T }, (_, t) => t).filter((t) => (h === 0 ? !needle.includes(t) : h === 1 ? !needle.includes(t) : true));
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      return h === 0 ? [...needle, ...pool.slice(0, 30 - needle.length)] : pool.slice(0, 30);
    });
    const recorder = new NeedleRecallRecorder({ needle, key, promptLength: T - 2, layers: (l) => l >= 2 });
    const qT = tf.tensor2d(q, [H, d]);
    const kT = tf.tensor3d(keys, [G, T, d]);
    const tokens = tf.tensor2d(sel.flat(), [H, 30], 'int32');
    await recorder.observer({ layer: 1, position: T - 1, q: qT, keys: kT, tokens, dense: false });
    await recorder.observer({ layer: 3, position: T - 1, q: qT, keys: kT, tokens, dense: false });
    await recorder.observer({ layer: 4, position: T - 1, q: qT, keys: kT, tokens, dense: true });
    tf.dispose([qT, kT, tokens]);
    expect(recorder.records.map((x) => [x.layer, x.step, x.attended])).toEqual([[3, 2, 30], [4, 2, T]]);
    const w = refWeights(q, keys);
    const want = reference(w, sel);
    for (const [m, v] of Object.entries(want)) expect(recorder.records[0][m as keyof NeedleRecallRecord], m).toBeCloseTo(v, 5);
    expect(want.needleAllSelected).toBeGreaterThanOrEqual(1 / H); // head 0 holds the needle
    expect(want.needleCoverage).toBeLessThan(1); // head 1 holds none of it
    // dense: everything kept
    const dense = reference(w, Array.from({ length: H }, () => Array.from({ length: T }, (_, t) => t)));
    for (const [m, v] of Object.entries(dense)) expect(recorder.records[1][m as keyof NeedleRecallRecord], m).toBeCloseTo(v, 5);
    expect(recorder.records[1].keyMassRecall).toBeCloseTo(1, 6);
  });

  it('empty slots (negative positions, the engine\'s lists of a selection that took fewer) attend nothing', async () => {
    const q = normals(H * d, 4);
    const keys = normals(G * T * d, 5);
    const r = rng(6);
    // per head: 20 positions (head h: the first from h, including needle positions), 12 empty slots spread among them
    const sel = Array.from({ length: H }, (_, h) => Array.from({ length: 20 }, (_, i) => (h * 7 + i * 4) % T));
    const padded = sel.map((row) => {
      const out = [...row];
      for (let e = 0; e < 12; e++) out.splice(Math.floor(r() * (out.length + 1)), 0, -1);
      return out;
    });
    const recorder = new NeedleRecallRecorder({ needle, key, promptLength: T - 2, layers: () => true });
    const [qT, kT] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d])];
    const [plain, holes] = [tf.tensor2d(sel.flat(), [H, 20], 'int32'), tf.tensor2d(padded.flat(), [H, 32], 'int32')];
    await recorder.observer({ layer: 2, position: T - 1, q: qT, keys: kT, tokens: plain, dense: false });
    await recorder.observer({ layer: 3, position: T - 1, q: qT, keys: kT, tokens: holes, dense: false });
    tf.dispose([qT, kT, plain, holes]);
    const [a, b] = recorder.records;
    expect(b.attended).toBe(20);
    const want = reference(refWeights(q, keys), sel);
    for (const [m, v] of Object.entries(want)) {
      expect(b[m as keyof NeedleRecallRecord], m).toBeCloseTo(v, 5);
      expect(b[m as keyof NeedleRecallRecord], m).toBe(a[m as keyof NeedleRecallRecord]);
    }
  });

  it("pools a row's mass recalls over its records (kept weight over dense weight), averages the rest", () => {
    const rec = (needleMass: number, needleKept: number, cov: number): NeedleRecallRecord => ({
      step: 1, layer: 2, attended: 10, needleKept, keyKept: needleKept / 2, needleMass, keyMass: needleMass / 2,
      needleMassRecall: needleKept / needleMass, keyMassRecall: needleKept / needleMass, needleCoverage: cov, needleAllSelected: cov === 1 ? 1 : 0, keyCoverage: cov, massRecall: 0.5,
    });
    // a layer that looks hard at the needle and keeps it, and one that barely looks and drops it
    const agg = aggregateNeedleRecall([rec(0.8, 0.8, 1), rec(0.01, 0, 0)]);
    expect(agg.needleMassRecall).toBeCloseTo(0.8 / 0.81, 12);
    expect(agg.keyMassRecall).toBeCloseTo(0.4 / 0.405, 12);
    expect(agg.needleCoverage).toBe(0.5);
    expect(agg.needleMass).toBeCloseTo(0.405, 12);
    expect(aggregateNeedleRecall([]).needleMassRecall).toBeNull();
  });
});
