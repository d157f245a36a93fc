/**
 * The custom WGSL kernels on the software WebGPU adapter (real WebGPU code paths on the CPU): each against
 * the op chain on the same backend (integers identical, floats within 1e-5 relative) and against the plain-TS
 * references. Shapes are small (llvmpipe is slow) but reach every variant: vector and scalar rows, GQA groups
 * of 1, 3 and 4, several chunks and tiles, K past one sort pass per thread, ties.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { denseAttention, sparseAttention } from '../../../src/gpu/attention.js';
import { buildClusterIndex, disposeClusterIndex } from '../../../src/gpu/cluster-index.js';
import { selectAndAttend } from '../../../src/gpu/decode-step.js';
import { kernelPath, setKernelPath, withKernelPath, type KernelPath } from '../../../src/gpu/kernel-path.js';
import { cosineKMeans, initialIndices } from '../../../src/gpu/kmeans.js';
import { rankedTokens, selectClusters, disposeClusterSelection } from '../../../src/gpu/selection.js';
import { copyWgsl, readWgsl } from '../../../src/gpu/wgsl/ceilings/copy-read.js';
import { bufferOf, compileMessages, gpuIdle, outputTensor, record, recordedPasses, startKernelTimer, stopKernelTimer } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { selectShader, selectTuning } from '../../../src/gpu/wgsl/select/select-clusters.js';
import { attentionTuning, mergeShader } from '../../../src/gpu/wgsl/attention/decode-attention.js';
import { kmeansTuning } from '../../../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { tuningDefaults, withTuning } from '../../../src/gpu/wgsl/runtime/tuning.js';
import { subgroupTuning } from '../../../src/gpu/wgsl/runtime/capabilities.js';
import { subgroupAttentionTuning } from '../../../src/gpu/wgsl/attention/subgroup-attention.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { values, worstRelative } from '../../helpers/tensors.js';
import { normals, refAttend, refClusterIndex, refCosineKMeans, refSelect, rng } from '../../reference/clusterkv.js';

const skip = await softwareWebgpu();


/** A layer of random keys and values with random cluster labels: q [H, d], keys/vals [G, T, d], cents [G, K, d]. */
function clusteredLayer(H: number, G: number, K: number, T: number, d: number, seed: number) {
  const r = rng(seed);
  const labels = tf.tensor2d(Int32Array.from({ length: G * T }, () => Math.floor(r() * K)), [G, T], 'int32');
  return {
    labels,
    index: buildClusterIndex(labels, K),
    q: tf.tensor2d(normals(H * d, 5), [H, d]),
    keys: tf.tensor3d(normals(G * T * d, 6), [G, T, d]),
    vals: tf.tensor3d(normals(G * T * d, 7), [G, T, d]),
    cents: tf.tensor3d(normals(G * K * d, 8), [G, K, d]),
  };
}

/** Runs f on both paths (checking that only 'wgsl' records kernel passes); returns [wgsl outputs, ops outputs]. */
async function bothPaths(f: () => tf.Tensor[]): Promise<[number[][], number[][]]> {
  const run = async (path: KernelPath) => {
    const before = recordedPasses();
    const out = await Promise.all(withKernelPath(path, f).map(values));
    if (path === 'wgsl') expect(recordedPasses()).toBeGreaterThan(before);
    else expect(recordedPasses()).toBe(before);
    return out;
  };
  return [await run('wgsl'), await run('ops')];
}

describe.skipIf(!!skip)('WGSL select kernel (software WebGPU)', () => {
  it('compiles every variant', async () => {
    for (const code of [selectShader('score', true, 4096, 128), selectShader('score', false, 3, 6), selectShader('ranked', false, 1, 1)]) expect(await compileMessages(code)).toEqual([]);
  });

  it('gives the op chain its tokens, ranking, cuts and sizes: GQA, empty cluster, D not a multiple of 4, every budget', async () => {
    const before = tf.memory().numTensors;
    for (const [H, G, K, N, D] of [[8, 2, 40, 1200, 16], [6, 2, 7, 90, 6], [3, 3, 1, 20, 8]] as const) {
      const r = rng(H * K + D);
      // cluster 5 (when there is one) is empty in every head
      const labels = Int32Array.from({ length: G * N }, () => {
        const c = Math.floor(r() * Math.max(1, K - 1));
        return K > 5 && c >= 5 ? c + 1 : c;
      });
      const q = normals(H * D, 3);
      const centroids = normals(G * K * D, 4);
      const labelsT = tf.tensor2d(labels, [G, N], 'int32');
      const index = buildClusterIndex(labelsT, K);
      const [qt, ct] = [tf.tensor2d(q, [H, D]), tf.tensor3d(centroids, [G, K, D])];
      for (const budget of [1, 5, Math.floor(N / 3), N, N + 7]) {
        const [wgsl, ops] = await bothPaths(() => {
          const sel = selectClusters(qt, ct, index, budget);
          return [sel.tokens, sel.ranked, sel.taken, sel.rankedSizes];
        });
        expect(wgsl).toEqual(ops);
        const n = Math.min(budget, N);
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / G));
          const refIdx = refClusterIndex(labels.subarray(g * N, (g + 1) * N), K, Array.from({ length: N }, (_, i) => i));
          const ref = refSelect(q.subarray(h * D, (h + 1) * D), centroids.subarray(g * K * D, (g + 1) * K * D), K, D, refIdx, budget);
          expect(wgsl[0].slice(h * n, (h + 1) * n)).toEqual(ref.tokens);
        }
      }
      tf.dispose([labelsT, qt, ct]);
      disposeClusterIndex(index);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('breaks score ties to the lower cluster id, as tf.topk, with K past one sort pair per thread', async () => {
    const [H, G, K, N, D] = [4, 1, 1500, 3000, 4];
    const r = rng(9);
    // integer-valued q and centroids: many exactly equal scores
    const q = Float32Array.from({ length: H * D }, () => Math.floor(r() * 3) - 1);
    const centroids = Float32Array.from({ length: G * K * D }, () => Math.floor(r() * 3) - 1);
    const labels = tf.tensor2d(Int32Array.from({ length: G * N }, (_, i) => i % K), [G, N], 'int32');
    const index = buildClusterIndex(labels, K);
    const [qt, ct] = [tf.tensor2d(q, [H, D]), tf.tensor3d(centroids, [G, K, D])];
    const [wgsl, ops] = await bothPaths(() => {
      const sel = selectClusters(qt, ct, index, 777);
      return [sel.ranked, sel.tokens];
    });
    expect(wgsl).toEqual(ops);
    for (let h = 0; h < H; h++) {
      const score = (c: number) => q.slice(h * D, (h + 1) * D).reduce((s, x, i) => s + x * centroids[c * D + i], 0);
      const want = Array.from({ length: K }, (_, c) => c).sort((a, b) => score(b) - score(a) || a - b);
      expect(wgsl[0].slice(h * K, (h + 1) * K)).toEqual(want);
    }
    tf.dispose([labels, qt, ct]);
    disposeClusterIndex(index);
  });

  it('takes the tokens of a given ranking (rankedTokens) as the op chain does', async () => {
    const [H, G, K, N] = [4, 2, 30, 500];
    const r = rng(5);
    const labels = tf.tensor2d(Int32Array.from({ length: G * N }, () => Math.floor(r() * K)), [G, N], 'int32');
    const ids = Int32Array.from({ length: N }, (_, i) => 100 + 3 * i);
    const index = buildClusterIndex(labels, K, ids);
    const ranking = Int32Array.from({ length: H * K }, (_, i) => (i * 7 + Math.floor(i / K)) % K);
    const ranked = tf.tensor2d(ranking, [H, K], 'int32');
    for (const budget of [1, 123, 500, 9999]) {
      const [wgsl, ops] = await bothPaths(() => [rankedTokens(ranked, index, budget)]);
      expect(wgsl).toEqual(ops);
    }
    tf.dispose([labels, ranked]);
    disposeClusterIndex(index);
  });
});

describe.skipIf(!!skip)('WGSL decode attention (software WebGPU)', () => {
  it('dense and sparse attention match the op chain and the reference (vector and scalar rows, groups of 1, 3, 4, several chunks)', async () => {
    for (const [H, G, T, d, n] of [[8, 2, 700, 16, 150], [6, 2, 77, 6, 40], [3, 3, 300, 8, 1], [4, 1, 2100, 4, 700]] as const) {
      const q = normals(H * d, 1);
      const keys = normals(G * T * d, 2);
      const vals = normals(G * T * d, 3);
      const r = rng(T);
      const chosen = Array.from({ length: H }, () => Array.from(initialIndices(1, T, n, Math.floor(r() * 1e6))[0]));
      const [qt, kt, vt] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor3d(vals, [G, T, d])];
      const tok = tf.tensor2d(Int32Array.from(chosen.flat()), [H, n], 'int32');
      const [wgsl, ops] = await bothPaths(() => [denseAttention(qt, kt, vt), sparseAttention(qt, kt, vt, tok)]);
      expect(worstRelative(wgsl[0], ops[0])).toBeLessThan(1e-5);
      expect(worstRelative(wgsl[1], ops[1])).toBeLessThan(1e-5);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const [kh, vh, qh] = [keys.subarray(g * T * d, (g + 1) * T * d), vals.subarray(g * T * d, (g + 1) * T * d), q.subarray(h * d, (h + 1) * d)];
        expect(worstRelative(wgsl[0].slice(h * d, (h + 1) * d), refAttend(qh, kh, vh, d, Array.from({ length: T }, (_, t) => t)))).toBeLessThan(1e-5);
        expect(worstRelative(wgsl[1].slice(h * d, (h + 1) * d), refAttend(qh, kh, vh, d, chosen[h]))).toBeLessThan(1e-5);
      }
      tf.dispose([qt, kt, vt, tok]);
    }
  });

  it('a negative position in a sparse list is an empty slot: it attends nothing, in both kernels, also where a whole chunk is empty', async () => {
    const [H, G, T, d, n] = [6, 2, 500, 16, 200];
    const q = normals(H * d, 5);
    const keys = normals(G * T * d, 6);
    const vals = normals(G * T * d, 7);
    const r = rng(11);
    // slots emptied at random (a third), head 1 also slots 64..191 (whole chunks of 64), head 2 all but its last
    // slot (a list attends something: the engine's always holds the current token)
    const lists = Array.from({ length: H }, (_, h) =>
      Array.from({ length: n }, (_, j) => ((h === 2 && j < n - 1) || (h === 1 && j >= 64 && j < 192) || (r() < 0.33 && !(h === 2)) ? -1 : Math.floor(r() * T))),
    );
    const [qt, kt, vt] = [tf.tensor2d(q, [H, d]), tf.tensor3d(keys, [G, T, d]), tf.tensor3d(vals, [G, T, d])];
    const tok = tf.tensor2d(Int32Array.from(lists.flat()), [H, n], 'int32');
    for (const [kernel, run] of [
      ['flash-decoding partials', <R>(f: () => R) => f()],
      ['subgroup partials', <R>(f: () => R) => withTuning(subgroupTuning, { emulate: 32 }, f)],
      ['subgroup partials, 3 tiles in flight', <R>(f: () => R) => withTuning(subgroupTuning, { emulate: 32 }, () => withTuning(subgroupAttentionTuning, { tilesInFlight: 3, sparseRows: 2 }, f))],
    ] as const) {
      const out = await run(async () => values(withKernelPath('wgsl', () => sparseAttention(qt, kt, vt, tok))));
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const [kh, vh, qh] = [keys.subarray(g * T * d, (g + 1) * T * d), vals.subarray(g * T * d, (g + 1) * T * d), q.subarray(h * d, (h + 1) * d)];
        const kept = lists[h].filter((p) => p >= 0);
        expect(worstRelative(out.slice(h * d, (h + 1) * d), refAttend(qh, kh, vh, d, kept)), `${kernel}, head ${h}`).toBeLessThan(1e-5);
      }
    }
    tf.dispose([qt, kt, vt, tok]);
  });

  it('the merge combines chunk partials as the plain-TS rule does: many chunks, empty chunks, vector and scalar rows, rows past the workgroup', async () => {
    const LOWEST = -3.402823e38;
    for (const [H, S, d] of [[3, 1, 8], [2, 5, 6], [2, 300, 8], [1, 70, 259], [1, 3, 1028]] as const) {
      const r = rng(S * d);
      // partial maxima spread over +-8 (so the weights e^(m_s - M) matter); every 4th chunk empty (m LOWEST, l 0, o 0)
      const empty = (h: number, s: number) => (h + s) % 4 === 3 && S > 1;
      const ml = Float32Array.from({ length: H * S * 2 }, (_, i) => {
        const [h, s] = [Math.floor(i / 2 / S), Math.floor(i / 2) % S];
        if (empty(h, s)) return i % 2 === 0 ? LOWEST : 0;
        return i % 2 === 0 ? 16 * r() - 8 : 1 + 10 * r();
      });
      const o = Float32Array.from(normals(H * S * d, S + d), (x, i) => (empty(Math.floor(i / (S * d)), Math.floor(i / d) % S) ? 0 : x));
      const want: number[] = [];
      for (let h = 0; h < H; h++) {
        let M = LOWEST;
        for (let s = 0; s < S; s++) M = Math.max(M, ml[2 * (h * S + s)]);
        let l = 0;
        for (let s = 0; s < S; s++) l += Math.exp(ml[2 * (h * S + s)] - M) * ml[2 * (h * S + s) + 1];
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += Math.exp(ml[2 * (h * S + s)] - M) * o[(h * S + s) * d + i];
          want.push(acc / l);
        }
      }
      const [ot, mlt] = [tf.tensor1d(o), tf.tensor1d(ml)];
      const out = outputTensor([H, d], 'float32');
      record([{ code: mergeShader(d), uniforms: [S], buffers: [bufferOf(ot, 'f32'), bufferOf(mlt, 'f32'), out.buffer], workgroups: [H] }]);
      expect(worstRelative(await values(out.tensor), want), `H ${H} S ${S} d ${d}`).toBeLessThan(1e-5);
      tf.dispose([ot, mlt, out.tensor]);
    }
  });

  it('one decode step (select + sparse attention in one pass) equals the op chain, also with a separate scoring query of D = 2d', async () => {
    const [H, G, K, T, d] = [8, 2, 20, 600, 8];
    const { labels, index, q, keys, vals, cents } = clusteredLayer(H, G, K, T, d, 2);
    // a bound-style summary: [relu(q), min(q, 0)] against [max, min] per cluster
    const wide = tf.tensor3d(normals(G * K * 2 * d, 9), [G, K, 2 * d]);
    const qWide = tf.concat([tf.relu(q), tf.minimum(q, 0)], 1) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    for (const budget of [1, 100, 600]) {
      const [wgsl, ops] = await bothPaths(() => [selectAndAttend(q, cents, index, budget, keys, vals), selectAndAttend(q, wide, index, budget, keys, vals, qWide)]);
      expect(worstRelative(wgsl[0], ops[0])).toBeLessThan(1e-5);
      expect(worstRelative(wgsl[1], ops[1])).toBeLessThan(1e-5);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([labels, q, keys, vals, cents, wide, qWide]);
    disposeClusterIndex(index);
  });
});

describe.skipIf(!!skip)('WGSL K-means (software WebGPU)', () => {
  it('gives the op chain labels and centroids, and the reference (several tiles, parts, scalar rows)', async () => {
    for (const [G, N, d, k, iters] of [[2, 300, 16, 7, 5], [1, 517, 6, 70, 3], [2, 64, 12, 3, 0]] as const) {
      const keys = normals(G * N * d, N + d);
      const init = normals(G * k * d, 99);
      const [kt, it] = [tf.tensor3d(keys, [G, N, d]), tf.tensor3d(init, [G, k, d])];
      const [wgsl, ops] = await bothPaths(() => {
        const res = cosineKMeans(kt, k, { iters, seed: 0, init: it });
        return [res.labels, res.centroids];
      });
      expect(wgsl[0]).toEqual(ops[0]);
      expect(worstRelative(wgsl[1], ops[1])).toBeLessThan(1e-5);
      for (let g = 0; g < G; g++) {
        const ref = refCosineKMeans(keys.subarray(g * N * d, (g + 1) * N * d), N, d, k, iters, init.subarray(g * k * d, (g + 1) * k * d));
        expect(wgsl[0].slice(g * N, (g + 1) * N)).toEqual(Array.from(ref.labels));
      }
      tf.dispose([kt, it]);
    }
  });

  it('draws the same seeded initial keys and keeps an empty cluster at its centroid', async () => {
    const [N, d, k] = [120, 8, 3];
    const r = rng(3);
    const keys = Float32Array.from({ length: N * d }, () => 1 + r()); // all in the positive orthant
    const init = new Float32Array(k * d);
    init.set(keys.subarray(0, d), 0);
    init.set(keys.subarray(50 * d, 51 * d), d);
    init.fill(-1, 2 * d); // never wins
    const [kt, it] = [tf.tensor3d(keys, [1, N, d]), tf.tensor3d(init, [1, k, d])];
    const [wgsl, ops] = await bothPaths(() => {
      const a = cosineKMeans(kt, k, { iters: 4, seed: 0, init: it });
      const b = cosineKMeans(kt, k, { iters: 2, seed: 11 });
      return [a.labels, a.centroids, b.labels, b.centroids];
    });
    expect(wgsl[0]).toEqual(ops[0]);
    expect(wgsl[0]).not.toContain(2);
    expect(wgsl[1].slice(2 * d)).toEqual(new Array(d).fill(-1));
    expect(wgsl[2]).toEqual(ops[2]);
    expect(worstRelative(wgsl[3], ops[3])).toBeLessThan(1e-5);
    tf.dispose([kt, it]);
  });
});

describe.skipIf(!!skip)('WGSL tuning variants (software WebGPU)', () => {
  it('every variant the tuning knobs offer gives the op chain results, and withTuning restores the defaults', async () => {
    const [H, G, K, T, d] = [8, 2, 300, 700, 16];
    const { labels, index, q, keys, vals, cents } = clusteredLayer(H, G, K, T, d, 4);
    try {
      const [, want] = await bothPaths(() => {
        const km = cosineKMeans(keys, 20, { iters: 2, seed: 1 });
        return [selectAndAttend(q, cents, index, 200, keys, vals), denseAttention(q, keys, vals), km.labels, km.centroids];
      });
      const variants = [
        { select: 64, dense: 64, sparse: 16, tile: [4, 4, 8], parts: 1, denseLoads: 'perHead', workgroupSize: 128, valueLoads: 8 },
        { select: 1024, dense: 1024, sparse: 128, tile: [8, 8, 16], parts: 16, denseLoads: 'shared', workgroupSize: 256, valueLoads: 4 },
        { select: 128, dense: 512, sparse: 32, tile: [4, 8, 16], parts: 2, denseLoads: 'perHead', workgroupSize: 256, valueLoads: 1 },
        { select: 512, dense: 64, sparse: 64, tile: [8, 8, 8], parts: 16, denseLoads: 'shared', workgroupSize: 64, valueLoads: 2 },
      ] as const;
      for (const v of variants) {
        const got = await withTuning(selectTuning, { workgroup: v.select }, () =>
          withTuning(attentionTuning, { denseChunk: v.dense, sparseChunk: v.sparse, workgroups: 1, denseLoads: v.denseLoads, workgroupSize: v.workgroupSize, valueLoads: v.valueLoads }, () =>
            withTuning(kmeansTuning, { tileRows: v.tile[0], tileCols: v.tile[1], depth: v.tile[2], parts: v.parts }, () =>
              Promise.all(
                withKernelPath('wgsl', () => {
                  const km = cosineKMeans(keys, 20, { iters: 2, seed: 1 });
                  return [selectAndAttend(q, cents, index, 200, keys, vals), denseAttention(q, keys, vals), km.labels, km.centroids];
                }).map(values),
              ),
            ),
          ),
        );
        expect(worstRelative(got[0], want[0]), JSON.stringify(v)).toBeLessThan(1e-5);
        expect(worstRelative(got[1], want[1]), JSON.stringify(v)).toBeLessThan(1e-5);
        expect(got[2], JSON.stringify(v)).toEqual(want[2]);
        expect(worstRelative(got[3], want[3]), JSON.stringify(v)).toBeLessThan(1e-5);
      }
      for (const knobs of [selectTuning, attentionTuning, kmeansTuning] as object[]) expect(knobs).toEqual(tuningDefaults(knobs));
      expect(() => withTuning(selectTuning, { workgroups: 4 } as never, () => 0)).toThrow(/unknown tuning knob 'workgroups' \(the family has workgroup\)/);
    } finally {
      tf.dispose([labels, q, keys, vals, cents]);
      disposeClusterIndex(index);
    }
  });
});

describe.skipIf(!!skip)('WGSL runtime (software WebGPU)', () => {
  it('copy and read kernels move every element', async () => {
    const x = tf.tensor1d(normals(4 * 5000, 1));
    expect(await values(copyWgsl(x))).toEqual(Array.from(await x.data()));
    const partial = readWgsl(x);
    const sums = tf.sum(partial);
    expect(Math.abs((await values(sums))[0] - (await values(tf.sum(x)))[0])).toBeLessThan(1e-2);
    tf.dispose([x, partial]);
  });

  it('switches paths by setKernelPath and env CLUSTERKV_KERNELS, and has no timer without timestamp queries', async () => {
    const saved = process.env.CLUSTERKV_KERNELS;
    try {
      process.env.CLUSTERKV_KERNELS = 'ops';
      expect(kernelPath()).toBe('ops');
      setKernelPath('wgsl');
      expect(kernelPath()).toBe('wgsl');
      setKernelPath(undefined);
      process.env.CLUSTERKV_KERNELS = 'fast';
      expect(() => kernelPath()).toThrow(/CLUSTERKV_KERNELS='fast'/);
    } finally {
      if (saved === undefined) delete process.env.CLUSTERKV_KERNELS;
      else process.env.CLUSTERKV_KERNELS = saved;
      setKernelPath(undefined);
    }
    // llvmpipe offers no 'timestamp-query': the timer declines instead of reporting zeros
    expect(startKernelTimer()).toBe(false);
    expect(await stopKernelTimer()).toBeUndefined();
    await gpuIdle();
  });
});
