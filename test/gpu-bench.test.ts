// The kernel benchmark runs end to end on a local backend and reports what bench/README.md reads from it.
// Functional only: no timing targets here (speed lives in `clusterkv bench` output and bench/results/).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { DESIGN_BENCH, runKernelBench, type KernelBenchConfig } from '../src/sim/bench/kernel-bench.js';
import { withBackend } from './helpers/backend.js';

const tiny: KernelBenchConfig = { ...DESIGN_BENCH, context: 512, heads: 4, kvHeads: 2, headDim: 16, clusters: 8, budgets: [64, 128], warmup: 1, runs: 3, kmeansIters: 2, kmeansRuns: 1 };

describe('kernel benchmark (wasm)', () => {
  it('times every stage, the step, dense and K-means, with sizes of the planted or K-means clusters', async () => {
    await withBackend('wasm', async () => {
      const before = tf.memory().numTensors;
      for (const clustering of ['kmeans', 'planted'] as const) {
        const r = await runKernelBench(tiny, clustering);
        expect(r.dense.wallMs.runs).toBe(3);
        expect(r.budgets.map((b) => b.budget)).toEqual([64, 128]);
        for (const b of r.budgets) {
          expect(Object.keys(b.stages).sort()).toEqual(['attend', 'gather', 'index', 'rank', 'score']);
          for (const t of [...Object.values(b.stages), b.clusterkvStep]) {
            expect(t.wallMs.median).toBeGreaterThan(0);
            expect(t.bytes).toBeGreaterThan(0);
            expect(Number.isFinite(t.achievedGBps)).toBe(true);
          }
          expect(b.speedup).toBeGreaterThan(0);
          expect(b.pairedSpeedup.runs).toBe(3);
        }
        expect(r.kmeans !== undefined).toBe(clustering === 'kmeans');
        expect(r.clusterSizes.min).toBeGreaterThanOrEqual(0);
        expect(r.clusterSizes.max).toBeLessThanOrEqual(tiny.context);
        JSON.stringify(r);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('rejects impossible configurations by name', async () => {
    await withBackend('wasm', async () => {
      await expect(runKernelBench({ ...tiny, budgets: [1024] })).rejects.toThrow(/budget 1024/);
      await expect(runKernelBench({ ...tiny, heads: 3 })).rejects.toThrow(/heads \(3\) must be a multiple of kvHeads/);
      await expect(runKernelBench({ ...tiny, clusters: 600 })).rejects.toThrow(/more clusters/);
      await expect(runKernelBench({ ...tiny, batch: 0 })).rejects.toThrow(/batch/);
    });
  });
});
