// The kernel benchmark runs end to end on wasm (op chains) and on the software WebGPU adapter (op chains and
// WGSL kernels, wall times: llvmpipe has no timestamps), timing every kernel of the list on every path.
// Functional only: no timing targets here (speed lives in `clusterkv bench` output and bench/results/).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { availablePaths, KERNELS, kernelsFor } from '../../../src/gpu/kernel-list.js';
import { DESIGN_BENCH, findTiming, runKernelBench, SWEEP_KERNELS, type KernelBenchConfig } from '../../../src/sim/bench/kernel-bench.js';
import { withBackend } from '../../helpers/backend.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const tiny: KernelBenchConfig = { ...DESIGN_BENCH, context: 512, heads: 4, kvHeads: 2, headDim: 16, clusters: 8, budgets: [64, 128], warmup: 1, runs: 2, kmeansIters: 2, kmeansRuns: 1 };

function expectComplete(r: Awaited<ReturnType<typeof runKernelBench>>, names: string[]): void {
  for (const name of names) {
    const entry = KERNELS.find((k) => k.name === name)!;
    for (const path of availablePaths(entry)) {
      for (const budget of entry.perBudget ? tiny.budgets : [null]) {
        const t = findTiming(r, name, path, budget);
        expect(t, `${name} ${path} ${budget}`).toBeDefined();
        expect(t!.wallMs.median).toBeGreaterThan(0);
        expect(t!.wallMs.runs).toBe(name === 'kmeans' ? tiny.kmeansRuns : tiny.runs);
        expect(t!.bytes).toBeGreaterThan(0);
        expect(Number.isFinite(t!.achievedGBps)).toBe(true);
      }
    }
  }
}

describe('kernel benchmark (wasm)', () => {
  it('times every kernel of the list on the op chains, cluster sizes of the planted clusters', async () => {
    await withBackend('wasm', async () => {
      const before = tf.memory().numTensors;
      // f16 variants are timed on the WGSL path only (their op chain is the fp32 one after a decode)
      const r = await runKernelBench({ ...tiny, kvDtypes: ['f32', 'f16'] });
      expectComplete(r, kernelsFor(['f32']).map((k) => k.name));
      expect(KERNELS.some((k) => k.kvDtype === 'f16')).toBe(true);
      expect(r.timings.filter((t) => t.kernel.endsWith('-f16'))).toEqual([]);
      expect(r.timings.every((t) => t.path === 'ops')).toBe(true);
      expect(r.peak).toBeUndefined();
      expect(r.clusterSizes.min).toBeGreaterThanOrEqual(1);
      expect(r.clusterSizes.max).toBeLessThanOrEqual(tiny.context);
      JSON.stringify(r);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('rejects impossible configurations by name', async () => {
    await withBackend('wasm', async () => {
      await expect(runKernelBench({ ...tiny, budgets: [1024] })).rejects.toThrow(/budget 1024/);
      await expect(runKernelBench({ ...tiny, heads: 3 })).rejects.toThrow(/heads \(3\) must be a multiple of kvHeads/);
      await expect(runKernelBench({ ...tiny, clusters: 600 })).rejects.toThrow(/more clusters/);
      await expect(runKernelBench({ ...tiny, kernels: ['fast-attention'] })).rejects.toThrow(/unknown kernel 'fast-attention'/);
      await expect(runKernelBench({ ...tiny, heatMs: -1 })).rejects.toThrow(/heatMs/);
    });
  });
});

const skip = await softwareWebgpu();

describe.skipIf(!!skip)('kernel benchmark (software WebGPU)', () => {
  it('times both paths of the sweep kernels and the ceilings, fenced by the queue', async () => {
    await withBackend('webgpu', async () => {
      const before = tf.memory().numTensors;
      const r = await runKernelBench({ ...tiny, kernels: [...SWEEP_KERNELS, 'copy', 'read', 'kmeans'], heatMs: 1 });
      expectComplete(r, [...SWEEP_KERNELS, 'copy', 'read', 'kmeans']);
      expect(new Set(r.timings.map((t) => t.path))).toEqual(new Set(['ops', 'wgsl']));
      expect(r.peak!.readGBps).toBeGreaterThan(0);
      expect(r.timings.every((t) => t.timing.kernelMs === undefined)).toBe(true);
      expect(r.timings.filter((t) => t.kernel !== 'kmeans').every((t) => t.timing.loopWallMs! > 0)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
