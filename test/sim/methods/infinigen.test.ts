import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { partialChannelCount, partialQueryMap } from '../../../src/sim/methods/infinigen-skewing.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { replayLayer } from '../../../src/sim/replay.js';
import type { ParamValue } from '../../../src/sim/selector.js';
import type { TraceManifest } from '../../../src/trace/manifest.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { memoryTrace, runSelector, sorted, type MemoryTrace } from '../../helpers/selectors.js';
import { refChosenCount, refForced, refLayout, type RefData } from '../../reference/baselines.js';
import { refInfiniGen, refPartialChannels } from '../../reference/infinigen.js';
import { mulberry32 } from '../../reference/metrics.js';

// H=4 query heads on G=2 KV heads, d 8, 90 prompt tokens, 10 steps; window 4 closes two windows mid-run
const [H, G, d, P, S] = [4, 2, 8, 90, 10];
const common = { budget: 24, sinks: 4, window: 4, denseLayers: 0 };
const method = (params: Record<string, ParamValue>) => createMethod('infinigen', { ...common, ...params });

/** A replay's calibration [H][P - sinks][d]: each query head's KV head's prompt keys after the sinks. */
function keyCalibration(trace: MemoryTrace): number[][][] {
  return Array.from({ length: H }, (_, h) => {
    const g = Math.floor(h / (H / G));
    return Array.from({ length: P - common.sinks }, (_, i) => Array.from(trace.keys.subarray((g * trace.T + common.sinks + i) * d, (g * trace.T + common.sinks + i + 1) * d)));
  });
}

/** Prompt queries [H*P*d] as the model path gives them, and the same as calibration [H][P][d]. */
function promptQueries(seed: number): { flat: Float32Array; calibration: number[][][] } {
  const r = mulberry32(seed);
  const flat = Float32Array.from({ length: H * P * d }, () => r() * 2 - 1);
  return { flat, calibration: Array.from({ length: H }, (_, h) => Array.from({ length: P }, (_, t) => Array.from(flat.subarray((h * P + t) * d, (h * P + t + 1) * d)))) };
}

function stepData(trace: MemoryTrace, s: number): RefData {
  return { q: trace.queries.subarray(s * H * d, (s + 1) * H * d), keys: trace.keys, H, G, T: trace.T, d };
}

describe.each(LOCAL_BACKENDS)('infinigen vs the plain-TS reference on %s', (backend) => {
  const trace = memoryTrace(mulberry32(21), H, G, d, P, S);

  it('picks the partial channels of the reference (SVD basis, |Q V| column sums)', async () => {
    await withBackend(backend, async () => {
      const { flat, calibration } = promptQueries(1);
      const queries = tf.tensor3d(flat, [H, P, d]);
      const { map, channels } = await partialQueryMap(queries, 3);
      const ref = refPartialChannels(calibration, 3);
      // the map is the projector onto the chosen directions: sum_c v_c v_c^T
      const got = (await map.array()) as number[][][];
      for (let h = 0; h < H; h++) {
        expect(channels[h]).toHaveLength(3);
        for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) expect(got[h][r][c]).toBeCloseTo(ref[h].reduce((s, v) => s + v[r] * v[c], 0), 4);
      }
      tf.dispose([queries, map]);
    });
  });

  it.each([
    ['threshold', 0.5, 0.5, 'keys'],
    ['threshold', 0.2, 5, 'keys'],
    ['top-b', 0.5, 5, 'keys'],
    ['threshold', 0.5, 0.5, 'prompt queries'],
  ] as const)('select %s, partialRatio %f, alpha %f, fit on %s: the positions and counts of the reference', async (select, partialRatio, alpha, fit) => {
    await withBackend(backend, async () => {
      const prompt = promptQueries(2);
      const recs = await runSelector(method({ select, partialRatio, alpha }), trace, 0, fit === 'keys' ? undefined : prompt.flat);
      const channels = refPartialChannels(fit === 'keys' ? keyCalibration(trace) : prompt.calibration, partialChannelCount(d, partialRatio));
      let belowBudget = 0;
      recs.forEach((rec, s) => {
        const layout = refLayout(rec.position, P, common.sinks, common.window);
        const want = refInfiniGen(stepData(trace, s), layout, common.budget, channels, alpha, select);
        const forced = refForced(layout);
        expect(rec.selectedCount).toBe(want.count);
        expect(rec.stats?.selectedTokens).toBe(want.count);
        rec.tokens.forEach((row, h) => {
          expect(row.slice(0, forced.length)).toEqual(forced);
          expect(sorted(row.slice(forced.length))).toEqual(sorted(want.chosen[h]));
        });
        if (want.count < refChosenCount(common.budget, layout)) belowBudget++;
      });
      // alpha 0.5 fetches fewer than B (the threshold is exercised); alpha 5 and top-b spend B
      expect(belowBudget > 0).toBe(select === 'threshold' && alpha < 1);
    });
  });
});

describe('infinigen', () => {
  const trace = memoryTrace(mulberry32(4), H, G, d, P, S);

  it('with every channel (partialRatio 1) and top-b it is the oracle', async () => {
    await withBackend('wasm', async () => {
      const all = await runSelector(method({ partialRatio: 1, select: 'top-b' }), trace);
      const oracle = await runSelector(createMethod('oracle', common), trace);
      expect(all.map((r) => r.tokens.map(sorted))).toEqual(oracle.map((r) => r.tokens.map(sorted)));
    });
  });

  it('cells of one replay share the skew through the layer memo and select as alone', async () => {
    await withBackend('wasm', async () => {
      const manifest: TraceManifest = {
        format: 'clusterkv-trace', version: 1, source: { kind: 'synthetic', name: 'test' }, model: { layers: 1, heads: H, kvHeads: G, headDim: d, ropeTheta: 10000 },
        keys: 'post-rope', contextLength: P + S, prefillLength: P, stepPositions: Array.from({ length: S }, (_, i) => P + i), dtype: 'F32', createdBy: 'test',
      };
      const methods = [16, 24].map((budget) => method({ budget, alpha: 0.5, partialRatio: 0.5 }));
      const steps = Array.from({ length: S }, (_, i) => i);
      const together = await replayLayer(manifest, 0, { k: trace.keys, v: trace.values, q: trace.queries }, methods, { steps, heads: [0, 1, 2, 3] });
      for (const [i, m] of methods.entries()) {
        const alone = await replayLayer(manifest, 0, { k: trace.keys, v: trace.values, q: trace.queries }, [m], { steps, heads: [0, 1, 2, 3] });
        expect(together[i]).toEqual(alone[0]);
      }
    });
  });

  it('refuses prompt queries of the wrong shape', async () => {
    await withBackend('wasm', async () => {
      const selector = method({}).forLayer({ layer: 0, heads: H, kvHeads: G, headDim: d });
      const k = tf.zeros([G, 8, d]) as tf.Tensor3D;
      const wrong = tf.zeros([H, 8, d + 1]) as tf.Tensor3D;
      expect(() => selector.prefill(k, k, wrong)).toThrow(/prompt queries must be \[H = 4, P = 8, d = 8\]/);
      selector.dispose();
      tf.dispose([k, wrong]);
    });
  });

  it('rejects bad parameters by name', () => {
    expect(() => method({ partialRatio: 0 })).toThrow(/infinigen: parameter 'partialRatio' must be a number in \(0, 1\], got 0/);
    expect(() => method({ partialRatio: 1.5 })).toThrow(/infinigen.*'partialRatio'/);
    expect(() => method({ alpha: 0 })).toThrow(/infinigen.*'alpha'/);
    expect(() => method({ select: 'all' })).toThrow(/infinigen.*'select'.*threshold \| top-b/);
    expect(() => method({ query: 'stored' })).toThrow(/infinigen: parameter 'query' must be one of speculated \| exact, got "stored"/);
  });

  it('leaks no tensors over many steps', async () => {
    await withBackend('wasm', async () => {
      const m = method({ alpha: 0.5 });
      await runSelector(m, trace);
      const before = tf.memory().numTensors;
      await runSelector(m, trace);
      await runSelector(createMethod('infinigen-topp', common), trace);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
