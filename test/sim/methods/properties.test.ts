/**
 * Properties every budgeted method of the registry (METHODS, the oracle aside: it is the yardstick) must
 * satisfy, on small random traces built in memory (fast-check, few runs): the oracle keeps at least their
 * attention mass at equal budget (methods that may spend less than B attend no more than it); a budget
 * covering the context gives the full token set (spending the whole budget); the same seed gives the same results.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../src/gpu/backend.js';
import { createMethod, METHODS, methodParamNames } from '../../../src/sim/methods/index.js';
import { replayLayer } from '../../../src/sim/replay.js';
import type { TraceManifest } from '../../../src/trace/manifest.js';
import { memoryTrace, runSelector, sorted } from '../../helpers/selectors.js';
import { mulberry32 } from '../../reference/metrics.js';

/** Every budgeted method but the oracle, from the registry: a new method is checked as soon as it is declared. */
const BASELINES = METHODS.filter((m) => m.budgeted && m.name !== 'oracle').map((m) => m.name);
/** methods whose budget is at most B (InfiniGen's max - alpha count, top-p budgets): they attend no more than the oracle */
const AT_MOST_B = new Set(BASELINES.filter((n) => n === 'infinigen' || n.endsWith('-topp')));

const shape = fc.record({
  G: fc.integer({ min: 1, max: 2 }),
  group: fc.integer({ min: 1, max: 2 }),
  d: fc.constantFrom(4, 8),
  P: fc.integer({ min: 8, max: 70 }),
  S: fc.integer({ min: 1, max: 6 }),
  sinks: fc.integer({ min: 0, max: 4 }),
  window: fc.integer({ min: 1, max: 4 }),
  budget: fc.integer({ min: 1, max: 40 }),
  pageSize: fc.integer({ min: 1, max: 8 }),
  blockSize: fc.integer({ min: 2, max: 12 }),
  seed: fc.nat(1000),
});
type Shape = typeof shape extends fc.Arbitrary<infer T> ? T : never;

/**
 * The method's parameters that the shape names (sinks, window, pageSize, blockSize, seed, ...), at `budget`.
 * cover: the parameters that spend the whole budget (InfiniGen's top-b, top-p 1), for the full-coverage property.
 */
function baselineParams(name: string, s: Shape, budget: number, cover = false): Record<string, number | string> {
  // denseLayers 0: the registry keeps layers below it dense for every method, and these traces have one layer;
  // representativeKeys within the smallest block, ClusterKV's window clusters within the window and several
  // prompt clusters in a prompt of 8..70 tokens; InfiniGen's alpha small enough to cut at these scores
  const values: Record<string, number | string> = { ...s, budget, denseLayers: 0, representativeKeys: Math.min(3, s.blockSize), windowClusters: Math.min(2, s.window), tokensPerCluster: 8, alpha: 2, topP: cover ? 1 : 0.8 };
  if (cover) values.select = 'top-b';
  return Object.fromEntries(methodParamNames(name).filter((p) => p in values).map((p) => [p, values[p]]));
}

function manifestOf(H: number, G: number, d: number, P: number, S: number): TraceManifest {
  return {
    format: 'clusterkv-trace',
    version: 1,
    source: { kind: 'synthetic', name: 'in-memory test trace' },
    model: { layers: 1, heads: H, kvHeads: G, headDim: d, ropeTheta: 10000 },
    keys: 'post-rope',
    contextLength: P + S,
    prefillLength: P,
    stepPositions: Array.from({ length: S }, (_, i) => P + i),
    dtype: 'F32',
    createdBy: 'test',
  };
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe('baseline properties (wasm)', () => {
  it('the oracle keeps at least the attention mass of every baseline at equal budget', async () => {
    let partial = 0; // rows where a baseline kept less than all the mass: the property is not vacuous
    await fc.assert(
      fc.asyncProperty(shape, async (s) => {
        const H = s.G * s.group;
        const trace = memoryTrace(mulberry32(s.seed), H, s.G, s.d, s.P, s.S);
        const methods = [createMethod('oracle', { budget: s.budget, sinks: s.sinks, window: s.window, denseLayers: 0 }), ...BASELINES.map((n) => createMethod(n, baselineParams(n, s, s.budget)))];
        const heads = Array.from({ length: H }, (_, h) => h);
        const steps = Array.from({ length: s.S }, (_, i) => i);
        const rows = await replayLayer(manifestOf(H, s.G, s.d, s.P, s.S), 0, { k: trace.keys, v: trace.values, q: trace.queries }, methods, { steps, heads });
        const [oracle, ...others] = rows;
        for (const method of others) {
          expect(method.length).toBe(oracle.length);
          const name = method[0]?.method ?? '';
          method.forEach((row, i) => {
            if (AT_MOST_B.has(name)) expect(row.tokensAttended).toBeLessThanOrEqual(oracle[i].tokensAttended);
            else expect(row.tokensAttended).toBe(oracle[i].tokensAttended);
            expect(row.massRecall).toBeLessThanOrEqual(oracle[i].massRecall + 1e-5);
            if (row.massRecall < 0.99) partial++;
          });
        }
      }),
      { numRuns: 12, seed: 42 },
    );
    expect(partial).toBeGreaterThan(50);
  });

  it('a budget covering the context attends exactly what full attends', async () => {
    await fc.assert(
      fc.asyncProperty(shape, async (s) => {
        const H = s.G * s.group;
        const trace = memoryTrace(mulberry32(s.seed), H, s.G, s.d, s.P, s.S);
        const full = await runSelector(createMethod('full'), trace);
        for (const name of BASELINES) {
          const recs = await runSelector(createMethod(name, baselineParams(name, s, s.P + s.S, true)), trace);
          recs.forEach((rec, i) => {
            for (let h = 0; h < H; h++) expect(sorted(rec.tokens[h])).toEqual(sorted(full[i].tokens[h]));
          });
        }
      }),
      { numRuns: 8, seed: 7 },
    );
  });

  it('every baseline gives identical selections when run twice with the same parameters', async () => {
    await fc.assert(
      fc.asyncProperty(shape, async (s) => {
        const H = s.G * s.group;
        const trace = memoryTrace(mulberry32(s.seed), H, s.G, s.d, s.P, s.S);
        for (const name of BASELINES) {
          const params = baselineParams(name, s, s.budget);
          const a = await runSelector(createMethod(name, params), trace);
          const b = await runSelector(createMethod(name, params), trace);
          expect(b.map((r) => r.tokens)).toEqual(a.map((r) => r.tokens));
        }
      }),
      { numRuns: 6, seed: 3 },
    );
  });
});
