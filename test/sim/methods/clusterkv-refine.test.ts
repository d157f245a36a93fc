import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createMethod } from '../../../src/sim/methods/index.js';
import type { ParamValue } from '../../../src/sim/selector.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { memoryTrace, runSelector, sorted } from '../../helpers/selectors.js';
import { refChosenCount, refForced, refLayout } from '../../reference/baselines.js';
import { refRefine } from '../../reference/clusterkv.js';
import { mulberry32 } from '../../reference/metrics.js';

const [H, G, d, P, S] = [4, 2, 8, 120, 8];
// window 4 closes windows mid-run (ClusterKV clusters each on its own); 30 prompt clusters of ~4 tokens
const common = { budget: 12, sinks: 4, window: 4, windowClusters: 2, clusters: 30, iters: 5, denseLayers: 0 };
const method = (name: string, params: Record<string, ParamValue> = {}) => createMethod(name, { ...common, ...params });

describe.each(LOCAL_BACKENDS)('clusterkv-refine on %s', (backend) => {
  const trace = memoryTrace(mulberry32(13), H, G, d, P, S);

  it('keeps the top B by exact q.k of the tokens ClusterKV chooses at refine x B (the plain-TS refinement)', async () => {
    await withBackend(backend, async () => {
      const refined = await runSelector(method('clusterkv-refine', { refine: 3 }), trace);
      const pool = await runSelector(method('clusterkv', { budget: 3 * common.budget }), trace);
      let differs = 0;
      refined.forEach((rec, s) => {
        const layout = refLayout(rec.position, P, common.sinks, common.window);
        const forced = refForced(layout);
        const candidates = pool[s].tokens.map((row) => row.slice(layout.sinkEnd, layout.sinkEnd + pool[s].selectedCount));
        const want = refRefine(trace.queries.subarray(s * H * d, (s + 1) * H * d), trace.keys, H, G, trace.T, d, candidates, refChosenCount(common.budget, layout));
        expect(rec.selectedCount).toBe(refChosenCount(common.budget, layout));
        rec.tokens.forEach((row, h) => {
          expect(row.slice(0, forced.length)).toEqual(forced);
          expect(row.slice(forced.length)).toEqual(want[h]);
          if (sorted(want[h]).join() !== sorted(candidates[h].slice(0, want[h].length)).join()) differs++;
        });
      });
      // refinement changes the choice: it is not ClusterKV's own first B tokens
      expect(differs).toBeGreaterThan(0);
    });
  });
});

describe('clusterkv-refine', () => {
  const trace = memoryTrace(mulberry32(14), H, G, d, P, S);

  it('refine 1 is ClusterKV; a pool covering the selectable range is the oracle', async () => {
    await withBackend('wasm', async () => {
      const one = await runSelector(method('clusterkv-refine', { refine: 1 }), trace);
      const ckv = await runSelector(method('clusterkv'), trace);
      expect(one.map((r) => r.tokens.map(sorted))).toEqual(ckv.map((r) => r.tokens.map(sorted)));
      const all = await runSelector(method('clusterkv-refine', { refine: 20 }), trace);
      const oracle = await runSelector(createMethod('oracle', { budget: common.budget, sinks: common.sinks, window: common.window, denseLayers: 0 }), trace);
      expect(all.map((r) => r.tokens.map(sorted))).toEqual(oracle.map((r) => r.tokens.map(sorted)));
    });
  });

  it('rejects bad parameters by name (its own and ClusterKV checks)', () => {
    expect(() => method('clusterkv-refine', { refine: 0 })).toThrow(/clusterkv-refine: parameter 'refine' must be an integer >= 1/);
    expect(() => method('clusterkv-refine', { windowClusters: 9 })).toThrow(/'windowClusters' \(9\) exceeds 'window'/);
  });

  it('leaks no tensors over many steps', async () => {
    await withBackend('wasm', async () => {
      const m = method('clusterkv-refine');
      await runSelector(m, trace);
      const before = tf.memory().numTensors;
      await runSelector(m, trace);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
