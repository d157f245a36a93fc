import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createMethod, METHODS } from '../../../src/sim/methods/index.js';
import type { ParamValue } from '../../../src/sim/selector.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { memoryTrace, runSelector, sorted, type MemoryTrace, type StepRecord } from '../../helpers/selectors.js';
import { RefH2O, refForced, refInfLLM, refLayout, refQuest, refStreaming, type RefData } from '../../reference/baselines.js';
import { mulberry32 } from '../../reference/metrics.js';

// H=4 query heads on G=2 KV heads, 90 prompt tokens, 10 steps; window 4 closes two windows mid-run
const H = 4;
const G = 2;
const d = 8;
const P = 90;
const S = 10;
const common = { budget: 24, sinks: 4, window: 4 };
/** a method with every layer sparse (the tests replay layer 0) */
const method = (name: string, params: Record<string, ParamValue>) => createMethod(name, { denseLayers: 0, ...params });

function stepData(trace: MemoryTrace, s: number): RefData {
  return { q: trace.queries.subarray(s * H * d, (s + 1) * H * d), keys: trace.keys, H, G, T: trace.T, d };
}

/** Checks forced positions come first and returns each head's chosen positions, sorted. */
function chosenOf(rec: StepRecord): number[][] {
  const forced = refForced(refLayout(rec.position, P, common.sinks, common.window));
  return rec.tokens.map((row) => {
    expect(row.slice(0, forced.length)).toEqual(forced);
    expect(new Set(row).size).toBe(row.length);
    return sorted(row.slice(forced.length));
  });
}

describe.each(LOCAL_BACKENDS)('baselines vs the plain-TS reference on %s', (backend) => {
  const trace = memoryTrace(mulberry32(11), H, G, d, P, S);
  const layoutAt = (position: number) => refLayout(position, P, common.sinks, common.window);

  it('quest picks the pages of the reference, the last one cut', async () => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('quest', { ...common, pageSize: 8 }), trace);
      recs.forEach((rec, s) => {
        const want = refQuest(stepData(trace, s), layoutAt(rec.position), common.budget, 8).map(sorted);
        expect(chosenOf(rec)).toEqual(want);
        expect(rec.selectedCount).toBe(common.budget);
        expect(rec.units?.kind).toBe('page');
        // 24 tokens in pages of 8 aligned at the sinks: 3 or 4 pages (4 when one is the short last page)
        for (const ids of rec.units!.ids) expect(ids.length).toBeGreaterThanOrEqual(3);
      });
    });
  });

  it('infllm picks the blocks of the reference', async () => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('infllm', { ...common, blockSize: 16, representativeKeys: 3 }), trace);
      recs.forEach((rec, s) => {
        const want = refInfLLM(stepData(trace, s), layoutAt(rec.position), common.budget, 16, 3).map(sorted);
        expect(chosenOf(rec)).toEqual(want);
        expect(rec.units?.kind).toBe('block');
      });
    });
  });

  it('streaming takes the most recent selectable tokens', async () => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('streaming', common), trace);
      for (const rec of recs) expect(chosenOf(rec)).toEqual(refStreaming(H, layoutAt(rec.position), common.budget));
    });
  });

  it('h2o keeps the reference heavy hitters and never recalls an evicted token', async () => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('h2o', { ...common, recentRatio: 0.25 }), trace);
      const ref = new RefH2O(G, common.budget, 0.25);
      const evicted = Array.from({ length: G }, () => new Set<number>());
      recs.forEach((rec, s) => {
        const layout = layoutAt(rec.position);
        const got = chosenOf(rec);
        expect(got).toEqual(ref.step(stepData(trace, s), layout).map(sorted));
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / G));
          for (const t of got[h]) expect(evicted[g].has(t)).toBe(false);
        }
        for (let g = 0; g < G; g++) {
          const keep = new Set(got[g * (H / G)]);
          for (let t = layout.sinkEnd; t < layout.openStart; t++) if (!keep.has(t)) evicted[g].add(t);
        }
      });
    });
  });

  it('random draws distinct selectable tokens, the same for a seed and different for another', async () => {
    await withBackend(backend, async () => {
      const a = await runSelector(method('random', { ...common, seed: 5 }), trace);
      const b = await runSelector(method('random', { ...common, seed: 5 }), trace);
      const c = await runSelector(method('random', { ...common, seed: 6 }), trace);
      const other = await runSelector(method('random', { ...common, seed: 5 }), trace, 1);
      expect(b.map((r) => r.tokens)).toEqual(a.map((r) => r.tokens));
      expect(c.map((r) => r.tokens)).not.toEqual(a.map((r) => r.tokens));
      expect(other.map((r) => r.tokens)).not.toEqual(a.map((r) => r.tokens));
      const hits = new Map<number, number>();
      for (const rec of a) {
        const layout = layoutAt(rec.position);
        for (const row of chosenOf(rec)) {
          expect(row).toHaveLength(common.budget);
          for (const t of row) {
            expect(t).toBeGreaterThanOrEqual(layout.sinkEnd);
            expect(t).toBeLessThan(layout.openStart);
            hits.set(t, (hits.get(t) ?? 0) + 1);
          }
        }
      }
      // 10 steps x 4 heads x 24 draws over ~86 positions: nearly all get drawn
      expect(hits.size).toBeGreaterThan(80);
    });
  });
});

describe('parameters', () => {
  it('are every declared parameter with its default, for every method of the registry', () => {
    for (const def of METHODS) {
      const m = createMethod(def.name, def.budgeted ? { budget: 8 } : {});
      const want: Record<string, unknown> = Object.fromEntries(Object.entries(def.params).map(([k, p]) => [k, p.default]));
      if (def.budgeted) want.budget = 8;
      expect(m.params).toEqual(want);
      expect(m.budget).toBe(def.budgeted ? 8 : Infinity);
    }
  });

  it('share one set of forced-set defaults (sinks, window, budget mode, dense layers)', () => {
    const budgeted = METHODS.filter((m) => m.budgeted);
    for (const key of ['sinks', 'window', 'budgetMode', 'denseLayers']) {
      const defaults = new Set(budgeted.map((m) => m.params[key]?.default));
      expect(defaults.size, key).toBe(1);
    }
  });

  it('a budgeted method without a budget names the flag', () => {
    expect(() => createMethod('clusterkv', {})).toThrow(/needs a token budget: give --budget/);
  });

  it('invalid values are rejected by name', () => {
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['quest', { budget: 0 }, /quest.*'budget'/],
      ['quest', { budget: 8, pageSize: 0 }, /quest.*'pageSize'/],
      ['infllm', { budget: 8, blockSize: 2.5 }, /infllm.*'blockSize'/],
      ['infllm', { budget: 8, representativeKeys: 0 }, /infllm.*'representativeKeys'/],
      ['infllm', { budget: 8, blockSize: 4, representativeKeys: 5 }, /infllm.*'representativeKeys'/],
      ['streaming', { budget: 8, sinks: -1 }, /streaming.*'sinks'/],
      ['streaming', { budget: 8, window: 0 }, /streaming.*'window'/],
      ['h2o', { budget: 8, recentRatio: 1.5 }, /h2o.*'recentRatio'/],
      ['random', { budget: 8, seed: -2 }, /random.*'seed'/],
      ['random', { budget: 8, budgetMode: 'tokens' }, /random.*'budgetMode'/],
      ['h2o', { budget: 16, budgetMode: 'including-sinks' }, /h2o.*sinks/],
      ['quest', { budget: 8, pages: 4 }, /quest.*'pages'/],
    ];
    for (const [name, params, message] of bad) expect(() => createMethod(name, params as never)).toThrow(message);
  });
});

describe('tensor hygiene', () => {
  it('selectors leak no tensors over many steps', async () => {
    await withBackend('wasm', async () => {
      const trace = memoryTrace(mulberry32(2), H, G, d, P, S);
      const methods = [method('quest', common), method('infllm', { ...common, blockSize: 16 }), method('streaming', common), method('h2o', common), method('random', common)];
      for (const m of methods) await runSelector(m, trace);
      const before = tf.memory().numTensors;
      for (const m of methods) await runSelector(m, trace);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
