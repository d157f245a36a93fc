/**
 * The subgroup kernels of issue 19 (decode attention, the threshold select, the K-means merge) and fp16
 * storage on the software adapter. The adapter has no 'subgroups', so the kernels are built with their
 * subgroup operations emulated in workgroup memory (capabilities.ts subgroupTuning.emulate): the same text
 * and the same lane arithmetic as on a GPU, checked against the op chains (floats within 1e-5, integers
 * equal) at shapes that reach every variant: vector widths, lanes per row, GQA groups of 1, 3, 4 and 8,
 * chunks with empty subgroups, ties in the select, f16 and f32 K/V, two subgroup sizes.
 * native-compile.test.ts checks the native (non-emulated) text on Dawn's null backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { denseAttention, sparseAttention } from '../../../src/gpu/attention.js';
import { buildClusterIndex, disposeClusterIndex } from '../../../src/gpu/cluster-index.js';
import { selectAndAttend } from '../../../src/gpu/decode-step.js';
import { fromHalf, packHalfHost, toHalf, unpackHalfHost } from '../../../src/gpu/half-tensor.js';
import { float32ToFloat16Bits as f16Bits } from '../../../src/trace/float16.js';
import { withKernelPath } from '../../../src/gpu/kernel-path.js';
import { cosineKMeans } from '../../../src/gpu/kmeans.js';
import { selectClusters, selectTokens } from '../../../src/gpu/selection.js';
import { subgroupAttentionTuning, subgroupLayout } from '../../../src/gpu/wgsl/attention/subgroup-attention.js';
import { kmeansTuning } from '../../../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { subgroupMode, subgroupTuning } from '../../../src/gpu/wgsl/runtime/capabilities.js';
import { recordedPasses } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { withTuning } from '../../../src/gpu/wgsl/runtime/tuning.js';
import { thresholdSelectTuning } from '../../../src/gpu/wgsl/select/select-threshold.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { values, worstRelative } from '../../helpers/tensors.js';
import { normals, rng } from '../../reference/clusterkv.js';

const skip = await softwareWebgpu();

/** f with subgroups of `size` emulated in workgroup memory. */
const emulated = <R>(size: number, f: () => Promise<R>) => withTuning(subgroupTuning, { emulate: size }, f);

/** wgsl and ops outputs of f (the wgsl run must record kernel passes). */
async function bothPaths(f: () => tf.Tensor[]): Promise<[number[][], number[][]]> {
  const before = recordedPasses();
  const wgsl = await Promise.all(withKernelPath('wgsl', f).map(values));
  expect(recordedPasses()).toBeGreaterThan(before);
  const ops = await Promise.all(withKernelPath('ops', f).map(values));
  return [wgsl, ops];
}

function layer(H: number, G: number, T: number, d: number, K: number, seed: number) {
  const r = rng(seed);
  const labels = tf.tensor2d(Int32Array.from({ length: G * T }, (_, i) => (i % T < K ? i % T : Math.floor(r() * K))), [G, T], 'int32');
  return {
    labels,
    index: buildClusterIndex(labels, K),
    q: tf.tensor2d(normals(H * d, seed + 1), [H, d]),
    keys: tf.tensor3d(normals(G * T * d, seed + 2), [G, T, d]),
    vals: tf.tensor3d(normals(G * T * d, seed + 3), [G, T, d]),
    // centroids on a coarse grid: tied scores exercise the tie rule
    cents: tf.tidy(() => tf.div(tf.round(tf.mul(tf.tensor3d(normals(G * K * d, seed + 4), [G, K, d]), 2)), 2)) as tf.Tensor3D,
  };
}

describe('fp16 storage on the host', () => {
  it('rounds to nearest even, keeps signs, subnormals, infinities and NaN, and unpacks exactly', () => {
    const cases: [number, number][] = [[0, 0], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02]];
    for (const [x, bits] of cases) expect(f16Bits(x), String(x)).toBe(bits);
    expect(f16Bits(NaN) & 0x7c00).toBe(0x7c00);
    const xs = Array.from(normals(4000, 3), (v, i) => v * 10 ** ((i % 13) - 8));
    const back = unpackHalfHost(packHalfHost(xs));
    xs.forEach((x, i) => expect(Math.abs(back[i] - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25)));
  });
});

describe.skipIf(!!skip)('subgroup kernels with emulated subgroups (software WebGPU)', () => {
  it('has no exact alternative to the WGSL storage conversions on webgpu (why half-tensor.ts keeps them out of the dispatcher)', async () => {
    // no synchronous host read of a GPU tensor in Node, and int32 element-wise ops computed in f32: when
    // either changes, a host path or an op chain of the conversions becomes possible
    const onGpu = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
    expect(() => onGpu.dataSync()).toThrow(/OffscreenCanvas/);
    onGpu.dispose();
    const words = tf.tidy(() => tf.add(tf.mul(tf.fill([4096], 65535, 'int32'), tf.scalar(65536, 'int32')), tf.scalar(65534, 'int32')));
    expect((await values(words))[0]).not.toBe((65535 * 65536 + 65534) | 0);
    words.dispose();
  });

  it('packs on the GPU to the same bits as the host', async () => {
    const xs = Float32Array.from(normals(6000, 9), (v, i) => (i % 7 === 0 ? v * 1e-6 : i % 11 === 0 ? v * 3e4 : v));
    xs[0] = 65520;
    xs[1] = -0;
    xs[2] = 2 ** -24 * 1.5;
    const x = tf.tensor2d(xs, [60, 100]);
    // the storage conversions are WGSL on webgpu whatever path is asked for (half-tensor.ts says why): the
    // same bits under CLUSTERKV_KERNELS=ops, where no host read or op chain could make them
    const saved = process.env.CLUSTERKV_KERNELS;
    for (const kernels of ['wgsl', 'ops']) {
      process.env.CLUSTERKV_KERNELS = kernels;
      try {
        const h = toHalf(x);
        expect(h.shape).toEqual([60, 100]);
        expect(await values(h.packed.clone()), `CLUSTERKV_KERNELS=${kernels}`).toEqual(Array.from(packHalfHost(xs)));
        expect(await values(fromHalf(h)), `CLUSTERKV_KERNELS=${kernels}`).toEqual(Array.from(unpackHalfHost(packHalfHost(xs))));
        h.packed.dispose();
      } finally {
        if (saved === undefined) delete process.env.CLUSTERKV_KERNELS;
        else process.env.CLUSTERKV_KERNELS = saved;
      }
    }
    x.dispose();
  });

  for (const size of [32, 16]) {
    it(`decode attention, dense and sparse, f32 and f16, gives the op chain's output (subgroups of ${size})`, async () => {
      await emulated(size, async () => {
        const shapes = [[8, 2, 200, 32, {}], [6, 2, 90, 16, { denseRows: 2, subgroups: 1, workgroups: 1 }], [8, 1, 100, 64, { denseRows: 8, subgroups: 2, vectorsPerLane: 2 }], [4, 4, 60, 8, { subgroups: 4, workgroups: 4096 }], [8, 2, 300, 32, { tilesInFlight: 2, workgroups: 1 }], [6, 3, 250, 16, { tilesInFlight: 3, denseRows: 2, sparseRows: 8, subgroups: 2, workgroups: 4 }],
          // the transposed reduction: the timed shape (d 128, 4 heads a group), scores left 2 and 4 to a lane
          // (d 32), a group of 3 heads padded to 8 scores with prefetch, 2 rows of 8 heads, one head
          [8, 2, 150, 128, { scoreReduction: 'transposed' }], [8, 2, 200, 32, { scoreReduction: 'transposed', subgroups: 2 }], [6, 2, 90, 16, { scoreReduction: 'transposed', denseRows: 2, tilesInFlight: 2, workgroups: 3 }],
          [8, 1, 100, 64, { scoreReduction: 'transposed', denseRows: 2, sparseRows: 2, vectorsPerLane: 2 }], [4, 4, 60, 8, { scoreReduction: 'transposed', subgroups: 1 }]] as const;
        // subgroups of 16: the one-subgroup shape, a prefetching one and the transposed reduction at d 128 (the lane arithmetic at a second size)
        for (const [H, G, T, d, knobs] of size === 32 ? shapes : [shapes[1], shapes[5], shapes[6]]) {
          await withTuning(subgroupAttentionTuning, knobs, async () => {
            expect(subgroupMode()).toEqual({ kind: 'emulated', size });
            // the transposed knob must reach the timed layout, or these shapes would test the butterfly twice
            if (d === 128) for (const kv of ['f32', 'f16'] as const) for (const sparse of [false, true]) expect(subgroupLayout(sparse, kv, d, H / G)?.reduce).toBe('transposed');
            const l = layer(H, G, T, d, 5, H + T);
            const [kh, vh] = [toHalf(l.keys), toHalf(l.vals)];
            const [kd, vd] = [fromHalf(kh) as tf.Tensor3D, fromHalf(vh) as tf.Tensor3D];
            const tokens = tf.tensor2d(Int32Array.from({ length: H * 61 }, (_, i) => (i * 7919 + Math.floor(i / 61)) % T), [H, 61], 'int32');
            const [wgsl, ops] = await bothPaths(() => [denseAttention(l.q, l.keys, l.vals), sparseAttention(l.q, l.keys, l.vals, tokens), denseAttention(l.q, kh, vh), sparseAttention(l.q, kh, vh, tokens)]);
            const [, f16ops] = await bothPaths(() => [denseAttention(l.q, kd, vd), sparseAttention(l.q, kd, vd, tokens)]);
            const label = `${H} ${T} ${d} ${JSON.stringify(knobs)}`;
            for (const i of [0, 1]) expect(worstRelative(wgsl[i], ops[i]), `${label} ${i}`).toBeLessThan(1e-5);
            // f16 K/V: the kernel on the rounded numbers equals the op chain on their decoded values
            for (const i of [2, 3]) expect(worstRelative(wgsl[i], f16ops[i - 2]), `${label} f16 ${i}`).toBeLessThan(1e-5);
            tf.dispose([l.labels, l.q, l.keys, l.vals, l.cents, kh.packed, vh.packed, kd, vd, tokens]);
            disposeClusterIndex(l.index);
          });
        }
      });
    }, 600_000);
  }

  it("the threshold select gives tf.topk's order and tie rule: tokens, ranking, cuts and sizes at every budget", async () => {
    await emulated(32, async () => {
      for (const [H, G, T, d, K, knobs] of [[8, 2, 1500, 32, 60, {}], [6, 3, 400, 16, 200, { bins: 8, subgroups: 2, passesInFlight: 1, slotsInFlight: 3 }], [3, 3, 50, 8, 1, {}], [4, 1, 900, 64, 300, { subgroups: 1, vectorsPerLane: 1, passesInFlight: 3, slotsInFlight: 1 }]] as const) {
        await withTuning(thresholdSelectTuning, knobs, async () => {
          const l = layer(H, G, T, d, K, K + d);
          const ch = toHalf(l.cents);
          for (const budget of [1, 37, Math.floor(T / 2), T, T + 5]) {
            const [wgsl, ops] = await bothPaths(() => {
              const full = selectClusters(l.q, l.cents, l.index, budget);
              return [selectTokens(l.q, l.cents, l.index, budget), full.tokens, full.ranked, full.taken, full.rankedSizes, selectTokens(l.q, ch, l.index, budget)];
            });
            wgsl.forEach((w, i) => expect(w, `${H} ${K} ${budget} output ${i}`).toEqual(ops[i]));
          }
          tf.dispose([l.labels, l.q, l.keys, l.vals, l.cents, ch.packed]);
          disposeClusterIndex(l.index);
        });
      }
    });
  });

  it('the decode step on subgroups (f32 and f16) gives the op chain its output', async () => {
    await emulated(32, async () => {
      const l = layer(8, 2, 800, 32, 40, 77);
      const [ch, kh, vh] = [toHalf(l.cents), toHalf(l.keys), toHalf(l.vals)];
      const [wgsl, ops] = await bothPaths(() => [selectAndAttend(l.q, l.cents, l.index, 150, l.keys, l.vals), selectAndAttend(l.q, ch, l.index, 150, kh, vh)]);
      expect(worstRelative(wgsl[0], ops[0])).toBeLessThan(1e-5);
      expect(worstRelative(wgsl[1], ops[1])).toBeLessThan(1e-5);
      tf.dispose([l.labels, l.q, l.keys, l.vals, l.cents, ch.packed, kh.packed, vh.packed]);
      disposeClusterIndex(l.index);
    });
  });

  it('K-means (per-part and sorted updates, f16 keys, the subgroup merge) gives the op chain its labels and centroids', async () => {
    await emulated(32, async () => {
      const l = layer(4, 2, 1200, 16, 30, 5);
      const kh = toHalf(l.keys);
      const kd = fromHalf(kh) as tf.Tensor3D;
      for (const knobs of [{}, { sums: 'sorted' as const, subgroupMerge: true }, { sums: 'sorted' as const, block: 100 }, { tileRows: 4, tileCols: 4, sums: 'sorted' as const, block: 4096, subgroupMerge: true }]) {
        await withTuning(kmeansTuning, knobs, async () => {
          const [wgsl, ops] = await bothPaths(() => {
            const a = cosineKMeans(l.keys, 30, { iters: 3, seed: 2 });
            const b = cosineKMeans(kh, 30, { iters: 3, seed: 2 });
            return [a.labels, a.centroids, b.labels, b.centroids];
          });
          const [, f16ops] = await bothPaths(() => {
            const b = cosineKMeans(kd, 30, { iters: 3, seed: 2 });
            return [b.labels, b.centroids];
          });
          expect(wgsl[0], JSON.stringify(knobs)).toEqual(ops[0]);
          expect(worstRelative(wgsl[1], ops[1])).toBeLessThan(1e-5);
          expect(wgsl[2], JSON.stringify(knobs)).toEqual(f16ops[0]);
          expect(worstRelative(wgsl[3], f16ops[1])).toBeLessThan(1e-5);
        });
      }
      tf.dispose([l.labels, l.q, l.keys, l.vals, l.cents, kh.packed, kd]);
      disposeClusterIndex(l.index);
    });
  });
});
