/**
 * The one dispatcher (src/gpu/kernel-dispatch.ts): its rules on plain functions, that the kernel list holds
 * every declared kernel, and which implementation the real kernels run for which input and path: the op
 * chain on cpu and wasm (the per-head K-means on wasm), the WGSL kernel on the software WebGPU adapter where
 * it fits, the subgroup kernels there where subgroups are emulated (f32 and packed f16 inputs), the op chain
 * where none fits or the op path is asked for.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { denseAttention, denseAttentionKernel, sparseAttentionKernel } from '../../src/gpu/attention.js';
import { useBackend } from '../../src/gpu/backend.js';
import { buildClusterIndex, disposeClusterIndex } from '../../src/gpu/cluster-index.js';
import { selectAndAttendKernel } from '../../src/gpu/decode-step.js';
import { disposeKv, toHalf } from '../../src/gpu/half-tensor.js';
import { declareKernel, declaredKernels, type DispatchedKernel } from '../../src/gpu/kernel-dispatch.js';
import { disposeWorkload, plantedWorkload, type KernelShape, type Workload } from '../../src/gpu/kernel-inputs.js';
import { copyKernel, KERNELS, readKernel } from '../../src/gpu/kernel-list.js';
import { setKernelPath, withKernelPath } from '../../src/gpu/kernel-path.js';
import { cosineKMeansKernel } from '../../src/gpu/kmeans.js';
import { rankClusters, rankedTokensKernel, scoreCentroids, selectClustersKernel, selectTokens, selectTokensKernel } from '../../src/gpu/selection.js';
import { subgroupTuning } from '../../src/gpu/wgsl/runtime/capabilities.js';
import { recordedPasses } from '../../src/gpu/wgsl/runtime/runtime.js';
import { withTuning } from '../../src/gpu/wgsl/runtime/tuning.js';
import { maxSelectClusters } from '../../src/gpu/wgsl/select/select-clusters.js';
import { softwareWebgpu } from '../helpers/software-webgpu.js';

const noSoftware = await softwareWebgpu();

afterEach(() => {
  setKernelPath(undefined);
  delete process.env.CLUSTERKV_KERNELS;
});

describe('declareKernel', () => {
  const impl = (name: string, path: 'ops' | 'wgsl', fits?: (x: number) => boolean) => ({ name, path, fits, run: (x: number) => `${name}(${x})` });

  it('refuses a kernel without implementations, a name twice, and an op chain that is not the last or does not fit everything', () => {
    expect(() => declareKernel('none', [])).toThrow(/'none' declares no implementation/);
    expect(() => declareKernel('twice', [impl('a', 'wgsl'), impl('a', 'ops')])).toThrow(/name twice \(a, a\)/);
    expect(() => declareKernel('first', [impl('ops', 'ops'), impl('wgsl', 'wgsl')])).toThrow(/op chain must be the last/);
    expect(() => declareKernel('picky', [impl('wgsl', 'wgsl'), impl('ops', 'ops', (x) => x > 0)])).toThrow(/op chain must be the last implementation and fit every input/);
  });

  it('runs the first implementation whose path runs and whose fits holds, in declared order', async () => {
    await useBackend('cpu');
    const k = declareKernel('toy', [impl('wgsl-variant', 'wgsl', (x) => x > 10), impl('wgsl', 'wgsl'), impl('ops-small', 'ops', (x) => x < 3), impl('ops', 'ops')]);
    // cpu: no WGSL path, whatever is asked for
    expect(k.run(1)).toBe('ops-small(1)');
    expect(k.run(20)).toBe('ops(20)');
    expect(withKernelPath('wgsl', () => k.choose(20).name)).toBe('ops');
    expect(k.implementation('wgsl').run(5)).toBe('wgsl(5)');
    expect(() => k.implementation('f16')).toThrow(/'toy' has no implementation 'f16' \(it has wgsl-variant, wgsl, ops-small, ops\)/);
    // a kernel without an op chain has nothing to run off webgpu, and says so
    const only = declareKernel('wgsl-only', [impl('wgsl', 'wgsl')]);
    expect(() => only.run(1)).toThrow(/'wgsl-only' has no implementation for these inputs here \(it has wgsl; 'wgsl' runs on the webgpu backend only\)/);
  });
});

describe('the kernel list', () => {
  it('holds every declared kernel of src/gpu, with its implementations and their paths', () => {
    const listed = new Map(KERNELS.map((e) => [e.name, e]));
    const real = declaredKernels().filter((k) => !['none', 'twice', 'first', 'picky', 'toy', 'wgsl-only'].includes(k.name));
    expect(real.map((k) => k.name).sort()).toEqual(['clusterkv-step', 'copy', 'dense-attention', 'kmeans', 'ranked-tokens', 'read', 'select-clusters', 'select-tokens', 'sparse-attention']);
    for (const k of real) {
      const e = listed.get(k.name);
      expect(e, k.name).toBeDefined();
      expect(e!.implementations).toBe(k.implementations);
      expect([...e!.paths].sort()).toEqual([...new Set(k.implementations.map((i) => i.path))].sort());
    }
    // the fp16 variants: the implementations of the kernel they are a variant of
    const halves = KERNELS.filter((e) => e.kvDtype === 'f16');
    expect(halves.map((e) => e.name)).toEqual(['dense-attention-f16', 'sparse-attention-f16', 'select-tokens-f16', 'select-clusters-f16', 'clusterkv-step-f16', 'kmeans-f16']);
    for (const e of halves) expect(e.implementations, e.name).toBe(real.find((k) => `${k.name}-f16` === e.name)!.implementations);
    // the stages with only an op chain
    expect(KERNELS.filter((e) => e.kvDtype !== 'f16' && !real.some((k) => k.name === e.name)).map((e) => [e.name, e.implementations.map((i) => i.name)])).toEqual(
      ['score-centroids', 'rank-clusters', 'gather-kv', 'attend-gathered', 'refine-candidates', 'attention-weights', 'cluster-index'].map((n) => [n, ['ops']]),
    );
  });
});

const shape: KernelShape = { heads: 8, kvHeads: 2, headDim: 16, context: 300, clusters: 12, budget: 64, kmeansIters: 1, seed: 3, keyNoise: 0.3 };

/** Each real kernel with inputs from a planted workload (what `choose` and `run` are called with). */
function cases(w: Workload): { kernel: DispatchedKernel<never, unknown>; args: unknown[]; free?: () => void }[] {
  const tokens = withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, shape.budget));
  const ranked = tf.tidy(() => rankClusters(scoreCentroids(w.q, w.centroids)));
  const x = tf.ones([256]) as tf.Tensor1D;
  const as = <A extends unknown[], R>(kernel: DispatchedKernel<A, R>, args: A, free?: () => void) => ({ kernel: kernel as unknown as DispatchedKernel<never, unknown>, args, free });
  return [
    as(denseAttentionKernel, [w.q, w.keys, w.values]),
    as(sparseAttentionKernel, [w.q, w.keys, w.values, tokens], () => tokens.dispose()),
    as(selectAndAttendKernel, [w.q, w.centroids, w.index, shape.budget, w.keys, w.values, w.q]),
    as(selectClustersKernel, [w.q, w.centroids, w.index, shape.budget]),
    as(selectTokensKernel, [w.q, w.centroids, w.index, shape.budget]),
    as(rankedTokensKernel, [ranked, w.index, shape.budget], () => ranked.dispose()),
    as(cosineKMeansKernel, [w.keys, shape.clusters, { iters: 1, seed: 0, init: w.centroids }]),
    as(copyKernel, [x], () => x.dispose()),
  ];
}

const choose = (c: ReturnType<typeof cases>[number]) => (c.kernel.choose as unknown as (...a: unknown[]) => { name: string })(...c.args).name;

describe.each(['cpu', 'wasm'])('dispatch on %s', (backend) => {
  it('runs every kernel on its op chain, also when WGSL is asked for', async () => {
    await useBackend(backend);
    const w = plantedWorkload(shape);
    const all = cases(w);
    try {
      for (const c of all) {
        expect(choose(c), c.kernel.name).toBe('ops');
        expect(withKernelPath('wgsl', () => choose(c)), c.kernel.name).toBe('ops');
      }
      // K-means without a given start: one head at a time on wasm (its batched matMul is slow there)
      expect(cosineKMeansKernel.choose(w.keys, shape.clusters, { iters: 1, seed: 0 }).name).toBe(backend === 'wasm' ? 'ops-per-head' : 'ops');
      const oneHead = tf.slice(w.keys, [0, 0, 0], [1, shape.context, shape.headDim]) as tf.Tensor3D;
      expect(cosineKMeansKernel.choose(oneHead, shape.clusters, { iters: 1, seed: 0 }).name).toBe('ops');
      oneHead.dispose();
    } finally {
      for (const c of all) c.free?.();
      disposeWorkload(w);
    }
  });
});

describe.skipIf(!!noSoftware)('dispatch on webgpu (software adapter)', () => {
  it('runs the WGSL kernel where it fits, and the op chain when CLUSTERKV_KERNELS=ops or withKernelPath asks for it', async () => {
    await useBackend('webgpu');
    const w = plantedWorkload(shape);
    const all = cases(w);
    try {
      for (const c of all) {
        expect(choose(c), c.kernel.name).toBe('wgsl');
        // the chosen one is what runs: WGSL records compute passes, the op chain none
        const before = recordedPasses();
        tf.dispose((c.kernel.run as unknown as (...a: unknown[]) => tf.TensorContainer)(...c.args));
        expect(recordedPasses(), c.kernel.name).toBeGreaterThan(before);
        expect(withKernelPath('ops', () => choose(c)), c.kernel.name).toBe('ops');
        const opsBefore = recordedPasses();
        tf.dispose(withKernelPath('ops', () => (c.kernel.run as unknown as (...a: unknown[]) => tf.TensorContainer)(...c.args)));
        expect(recordedPasses(), c.kernel.name).toBe(opsBefore);
        process.env.CLUSTERKV_KERNELS = 'ops';
        expect(choose(c), c.kernel.name).toBe('ops');
        delete process.env.CLUSTERKV_KERNELS;
      }
      // the read ceiling has no op chain: WGSL or nothing
      const x = tf.ones([64]) as tf.Tensor1D;
      expect(readKernel.choose(x).name).toBe('wgsl');
      expect(() => withKernelPath('ops', () => readKernel.choose(x))).toThrow(/'read' has no implementation/);
      x.dispose();
    } finally {
      for (const c of all) c.free?.();
      disposeWorkload(w);
    }
  });

  it('chooses the subgroup kernels where there are subgroups (emulated here), for f32 and packed f16 inputs, and the older ones without', async () => {
    await useBackend('webgpu');
    const w = plantedWorkload(shape);
    const [kh, vh, ch] = [toHalf(w.keys), toHalf(w.values), toHalf(w.centroids)];
    const tokens = withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, shape.budget));
    const opts = { iters: 1, seed: 0, init: w.centroids };
    // per kernel: [with subgroups (f32, f16), without subgroups (f32, f16)]
    const expected: [string, () => string, () => string, string[]][] = [
      ['dense-attention', () => denseAttentionKernel.choose(w.q, w.keys, w.values).name, () => denseAttentionKernel.choose(w.q, kh, vh).name, ['wgsl-subgroup', 'wgsl-subgroup', 'wgsl', 'wgsl']],
      ['sparse-attention', () => sparseAttentionKernel.choose(w.q, w.keys, w.values, tokens).name, () => sparseAttentionKernel.choose(w.q, kh, vh, tokens).name, ['wgsl-subgroup', 'wgsl-subgroup', 'wgsl', 'wgsl']],
      ['clusterkv-step', () => selectAndAttendKernel.choose(w.q, w.centroids, w.index, shape.budget, w.keys, w.values, w.q).name, () => selectAndAttendKernel.choose(w.q, ch, w.index, shape.budget, kh, vh, w.q).name, ['wgsl-subgroup', 'wgsl-subgroup', 'wgsl', 'ops']],
      ['select-clusters', () => selectClustersKernel.choose(w.q, w.centroids, w.index, shape.budget).name, () => selectClustersKernel.choose(w.q, ch, w.index, shape.budget).name, ['wgsl-subgroup', 'wgsl-subgroup', 'wgsl', 'wgsl']],
      ['select-tokens', () => selectTokensKernel.choose(w.q, w.centroids, w.index, shape.budget).name, () => selectTokensKernel.choose(w.q, ch, w.index, shape.budget).name, ['wgsl-subgroup', 'wgsl-subgroup', 'wgsl', 'wgsl']],
      ['kmeans', () => cosineKMeansKernel.choose(w.keys, shape.clusters, opts).name, () => cosineKMeansKernel.choose(kh, shape.clusters, opts).name, ['wgsl', 'wgsl-f16', 'wgsl', 'wgsl-f16']],
    ];
    try {
      for (const [name, f32, f16, want] of expected) {
        expect(await withTuning(subgroupTuning, { emulate: 32 }, async () => [f32(), f16()]), name).toEqual(want.slice(0, 2));
        expect([f32(), f16()], name).toEqual(want.slice(2));
        // CLUSTERKV_SUBGROUPS=off in a process: the older kernels however the device is
        expect(await withTuning(subgroupTuning, { emulate: 32, enabled: false }, async () => [f32(), f16()]), name).toEqual(want.slice(2));
        // the op path: the op chains, f16 inputs decoded
        expect(withKernelPath('ops', () => [f32(), f16()]), name).toEqual(['ops', 'ops']);
      }
      // what the f16 variants of the kernel list run is what dispatch chose: the f16 op chain decodes, the kernel reads the words
      const before = recordedPasses();
      tf.dispose(withKernelPath('wgsl', () => denseAttention(w.q, kh, vh)));
      expect(recordedPasses()).toBeGreaterThan(before);
    } finally {
      [kh, vh, ch].forEach(disposeKv);
      tokens.dispose();
      disposeWorkload(w);
    }
  });

  it('runs the op chain for inputs the WGSL kernels do not fit', async () => {
    await useBackend('webgpu');
    const w = plantedWorkload(shape);
    // a GQA group of 65 query heads (the attention kernels take at most 64)
    const q65 = tf.zeros([130, 4]) as tf.Tensor2D;
    const kv = tf.zeros([2, 8, 4]) as tf.Tensor3D;
    // more clusters than the select kernel's workgroup memory holds
    const K = maxSelectClusters() + 1;
    const labels = tf.tensor2d(Int32Array.from({ length: 2 * K }, (_, i) => i % K), [2, K], 'int32');
    const index = buildClusterIndex(labels, K);
    const manyCentroids = tf.zeros([2, K, 4]) as tf.Tensor3D;
    const q8 = tf.zeros([8, 4]) as tf.Tensor2D;
    // a head dimension past the K-means kernels' 4096
    const wideKeys = tf.zeros([1, 2, 4100]) as tf.Tensor3D;
    try {
      expect(denseAttentionKernel.choose(q65, kv, kv).name).toBe('ops');
      expect(selectClustersKernel.choose(q8, manyCentroids, index, 10).name).toBe('ops');
      expect(selectTokensKernel.choose(q8, manyCentroids, index, 10).name).toBe('ops');
      // budget 0 selects nothing: no WGSL dispatch of an empty token list
      expect(selectTokensKernel.choose(w.q, w.centroids, w.index, 0).name).toBe('ops');
      expect(selectAndAttendKernel.choose(w.q, w.centroids, w.index, 0, w.keys, w.values, w.q).name).toBe('ops');
      // a scoring query of another D than the centroids: the composition, which names the problem
      expect(selectAndAttendKernel.choose(w.q, w.centroids, w.index, 8, w.keys, w.values, q8).name).toBe('ops');
      expect(cosineKMeansKernel.choose(wideKeys, 1, { iters: 1, seed: 0 }).name).toBe('ops');
      // and the WGSL kernel where the same kernels fit
      expect(selectTokensKernel.choose(w.q, w.centroids, w.index, 1).name).toBe('wgsl');
    } finally {
      tf.dispose([q65, kv, labels, manyCentroids, q8, wideKeys]);
      disposeClusterIndex(index);
      disposeWorkload(w);
    }
  });
});
