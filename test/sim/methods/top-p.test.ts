import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterKVLayer } from '../../../src/sim/methods/clusterkv/layer.js';
import { createMethod, methodFromDefinition } from '../../../src/sim/methods/index.js';
import { streaming } from '../../../src/sim/methods/streaming.js';
import { full } from '../../../src/sim/methods/full.js';
import { layerBudget, topPCounts, withTopP } from '../../../src/sim/methods/top-p.js';
import { replayTrace, type ResultRow } from '../../../src/sim/replay.js';
import type { ParamValue } from '../../../src/sim/selector.js';
import { TraceReader, writeSyntheticTrace } from '../../../src/trace/index.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { memoryTrace, runSelector, sorted, type MemoryTrace, type StepRecord } from '../../helpers/selectors.js';
import { dot, keyOf, refBoxBound, refChosenCount, refForced, refInfLLM, refInfLLMBlockScores, refLayout, refQuest, refQuestPageScores, row, type RefData, type RefLayout } from '../../reference/baselines.js';
import { refTopPositions } from '../../reference/infinigen.js';
import { mulberry32 } from '../../reference/metrics.js';
import { refBudgets, refTopPCount } from '../../reference/top-p.js';

const [H, G, d, P, S] = [4, 2, 8, 90, 10];
const common = { budget: 40, sinks: 4, window: 4, denseLayers: 0 };
const topp = { topP: 0.6, minShare: 0.1 };
const method = (name: string, params: Record<string, ParamValue>) => createMethod(name, { ...common, ...params });

function stepData(trace: MemoryTrace, s: number): RefData {
  return { q: trace.queries.subarray(s * H * d, (s + 1) * H * d), keys: trace.keys, H, G, T: trace.T, d };
}

/** Exact logits q.k / sqrt(d) of the selectable positions, per head. */
function exactLogits(data: RefData, layout: RefLayout): number[][] {
  return Array.from({ length: H }, (_, h) => {
    const q = row(data.q, h, d);
    const out: number[] = [];
    for (let t = layout.sinkEnd; t < layout.openStart; t++) out.push(dot(q, keyOf(data, Math.floor(h / (H / G)), t)) / Math.sqrt(d));
    return out;
  });
}

/** Per head, its chosen positions (sorted), checking the forced prefix and that slots past the head's count are empty. */
function chosenOf(rec: StepRecord, layout: RefLayout, budgets: number[]): number[][] {
  const forced = refForced(layout);
  return rec.tokens.map((r, h) => {
    expect(r.slice(0, forced.length)).toEqual(forced);
    const rest = r.slice(forced.length);
    expect(rest.length).toBe(Math.max(...budgets));
    expect(rest.filter((t) => t < 0).length).toBe(rest.length - budgets[h]);
    return sorted(rest.filter((t) => t >= 0));
  });
}

/** The spent-budget stats and counts of a step whose heads spend `budgets`. */
function expectSpent(rec: { selectedCount: number; selectedPerHead?: number[]; stats?: Record<string, number> }, budgets: number[]): void {
  const slots = Math.max(...budgets);
  expect(rec.selectedCount).toBe(slots);
  expect(rec.selectedPerHead).toEqual(budgets.every((b) => b === slots) ? undefined : budgets);
  expect(rec.stats?.selectedTokens).toBeCloseTo(budgets.reduce((a, b) => a + b, 0) / budgets.length, 12);
  expect(rec.stats?.selectedTokensMin).toBe(Math.min(...budgets));
  expect(rec.stats?.selectedTokensMax).toBe(slots);
}

describe.each(LOCAL_BACKENDS)('top-p budgets vs the plain-TS reference on %s', (backend) => {
  const trace = memoryTrace(mulberry32(31), H, G, d, P, S);

  it('topPCounts: the fewest top tokens whose softmax mass reaches p', async () => {
    await withBackend(backend, async () => {
      const r = mulberry32(5);
      const logits = Array.from({ length: 6 }, (_, h) => Array.from({ length: 50 }, () => (r() * 2 - 1) * (1 + h)));
      const t = tf.tensor2d(logits);
      for (const p of [0.05, 0.5, 0.9, 0.99, 1]) expect(Array.from(await topPCounts(t, p))).toEqual(logits.map((l) => refTopPCount(l, p)));
      t.dispose();
    });
  });

  it.each(['head', 'max', 'mean'] as const)('oracle-topp (headBudget %s) takes the reference budget of exact top tokens', async (headBudget) => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('oracle-topp', { ...topp, headBudget }), trace);
      const spent = new Set<number>();
      let ragged = 0;
      recs.forEach((rec, s) => {
        const layout = refLayout(rec.position, P, common.sinks, common.window);
        const logits = exactLogits(stepData(trace, s), layout);
        const needs = logits.map((l) => refTopPCount(l, topp.topP));
        const budgets = refBudgets(needs, refChosenCount(common.budget, layout), topp.minShare, headBudget);
        expectSpent(rec, budgets);
        expect(rec.stats?.topPTokens).toBeCloseTo(needs.reduce((a, x) => a + x, 0) / H, 10);
        expect(chosenOf(rec, layout, budgets)).toEqual(budgets.map((b, h) => sorted(refTopPositions([logits[h]], layout, b)[0])));
        budgets.forEach((b) => spent.add(b));
        if (new Set(budgets).size > 1) ragged++;
      });
      // the budget adapts: it is below B and not one value for every step; per head, heads of a step differ
      expect(Math.max(...spent)).toBeLessThan(common.budget);
      expect(spent.size).toBeGreaterThan(1);
      expect(ragged > 0).toBe(headBudget === 'head');
    });
  });

  it.each(['head', 'mean'] as const)('quest-topp (headBudget %s) reads each token as its page bound / sqrt(d) and takes that many by Quest', async (headBudget) => {
    await withBackend(backend, async () => {
      const recs = await runSelector(method('quest-topp', { ...topp, pageSize: 8, ...(headBudget === 'mean' && { headBudget }) }), trace);
      recs.forEach((rec, s) => {
        const layout = refLayout(rec.position, P, common.sinks, common.window);
        const data = stepData(trace, s);
        const { pages, scores } = refQuestPageScores(data, layout, 8);
        const needs = scores.map((perPage) => refTopPCount(pages.flatMap((page, u) => page.map(() => perPage[u] / Math.sqrt(d))), topp.topP));
        const budgets = refBudgets(needs, refChosenCount(common.budget, layout), topp.minShare, headBudget);
        expectSpent(rec, budgets);
        expect(chosenOf(rec, layout, budgets)).toEqual(budgets.map((b, h) => sorted(refQuest(data, layout, common.budget, 8, b)[h])));
        // the pages behind each head's selection: whole pages in rank order, the last one cut at the head's count
        rec.units!.sizes!.forEach((sz, h) => {
          const total = sz.reduce((a, x) => a + x, 0);
          expect(total).toBeGreaterThanOrEqual(budgets[h]);
          expect(total - (sz.length ? sz[sz.length - 1] : 0)).toBeLessThan(Math.max(budgets[h], 1));
        });
      });
    });
  });
  it('infllm-topp reads each token as its block score / (representativeKeys sqrt(d)) and takes that many by InfLLM, per head', async () => {
    await withBackend(backend, async () => {
      const [blockSize, reps] = [8, 3];
      const recs = await runSelector(method('infllm-topp', { ...topp, blockSize, representativeKeys: reps }), trace);
      let ragged = 0;
      recs.forEach((rec, s) => {
        const layout = refLayout(rec.position, P, common.sinks, common.window);
        const data = stepData(trace, s);
        const { blocks, scores } = refInfLLMBlockScores(data, layout, blockSize, reps);
        const needs = scores.map((perBlock) => refTopPCount(blocks.flatMap((block, u) => block.map(() => perBlock[u] / (reps * Math.sqrt(d)))), topp.topP));
        const budgets = refBudgets(needs, refChosenCount(common.budget, layout), topp.minShare, 'head');
        expectSpent(rec, budgets);
        expect(chosenOf(rec, layout, budgets)).toEqual(budgets.map((b, h) => sorted(refInfLLM(data, layout, common.budget, blockSize, reps, b)[h])));
        if (new Set(budgets).size > 1) ragged++;
      });
      expect(ragged).toBeGreaterThan(0);
    });
  });
});

describe.each(LOCAL_BACKENDS)('clusterkv-topp on %s', (backend) => {
  const trace = memoryTrace(mulberry32(33), H, G, d, P, S);
  const ckv = { windowClusters: 2, clusters: 20, iters: 4 };

  it.each(['centroid', 'bound'] as const)("reads each token as its cluster's %s score / sqrt(d) and takes ClusterKV's ranking that far", async (scoring) => {
    await withBackend(backend, async () => {
      const info = { layer: 0, heads: H, kvHeads: G, headDim: d };
      const plain = method('clusterkv', { ...ckv, scoring }).forLayer(info) as ClusterKVLayer;
      const adaptive = method('clusterkv-topp', { ...ckv, scoring, ...topp }).forLayer(info);
      const keys = tf.tensor3d(trace.keys, [G, trace.T, d]);
      const values = tf.tensor3d(trace.values, [G, trace.T, d]);
      const at = (x: tf.Tensor3D, from: number, n: number) => tf.slice(x, [0, from, 0], [-1, n, -1]) as tf.Tensor3D;
      const [k0, v0] = [at(keys, 0, P), at(values, 0, P)];
      plain.prefill(k0, v0);
      adaptive.prefill(k0, v0);
      const spent = new Set<number>();
      let ragged = 0;
      for (let s = 0; s < S; s++) {
        const q = tf.tensor2d(trace.queries.subarray(s * H * d, (s + 1) * H * d), [H, d]);
        const [kn, vn] = [at(keys, P + s, 1), at(values, P + s, 1)];
        const whole = await plain.step(q, kn, vn);
        const sel = await adaptive.step(q, kn, vn);
        const layout = refLayout(P + s, P, common.sinks, common.window);
        // the reference need: every clustered token gets its cluster's score / sqrt(d), recomputed here on the
        // host from the plain layer's state (the same clustering: same keys, parameters and seed)
        const { centroids, members } = await clusterContents(plain, trace);
        const qs = (await q.array()) as number[][];
        const needs = qs.map((qh, h) => {
          const g = Math.floor(h / (H / G));
          const score = (k: number) => (scoring === 'centroid' ? dot(qh, centroids[g][k]) : refBoxBound(qh, members[g][k]));
          return refTopPCount(members[g].flatMap((keys, k) => new Array<number>(keys.length).fill(score(k) / Math.sqrt(d))), topp.topP);
        });
        const budgets = refBudgets(needs, refChosenCount(common.budget, layout), topp.minShare, 'head');
        expectSpent({ ...sel, selectedPerHead: sel.selectedPerHead && Array.from(sel.selectedPerHead) }, budgets);
        const slots = Math.max(...budgets);
        const [got, ranked] = [(await sel.tokens.array()) as number[][], (await whole.tokens.array()) as number[][]];
        for (let h = 0; h < H; h++) {
          // the head's own count of ClusterKV's ranking, then empty slots up to the largest head's
          const b = budgets[h];
          expect(got[h].slice(layout.sinkEnd, layout.sinkEnd + b)).toEqual(ranked[h].slice(layout.sinkEnd, layout.sinkEnd + b));
          expect(got[h].slice(layout.sinkEnd + b, layout.sinkEnd + slots)).toEqual(new Array<number>(slots - b).fill(-1));
          expect(got[h].length).toBe(ranked[h].length - refChosenCount(common.budget, layout) + slots);
        }
        if (new Set(budgets).size > 1) ragged++;
        budgets.forEach((b) => spent.add(b));
        tf.dispose([q, kn, vn, whole.tokens, sel.tokens]);
      }
      expect(Math.min(...spent)).toBeLessThan(common.budget);
      expect(ragged).toBeGreaterThan(0);
      plain.dispose();
      adaptive.dispose();
      tf.dispose([keys, values, k0, v0]);
    });
  });
});

/** Per KV head and cluster: its centroid and its member keys (the layer's index over the trace's positions). */
async function clusterContents(layer: ClusterKVLayer, trace: MemoryTrace): Promise<{ centroids: number[][][]; members: number[][][][] }> {
  const { centroids, index } = layer.state;
  const [c, sortedTokens, offsets, sizes] = [
    (await centroids.array()) as number[][][],
    (await index.sortedTokens.array()) as number[][],
    (await index.offsets.array()) as number[][],
    (await index.sizes.array()) as number[][],
  ];
  const data: RefData = { q: [], keys: trace.keys, H, G, T: trace.T, d };
  const members = sizes.map((perCluster, g) => perCluster.map((n, k) => sortedTokens[g].slice(offsets[g][k], offsets[g][k] + n).map((t) => keyOf(data, g, t))));
  return { centroids: c, members };
}

describe('the top-p wrapper', () => {
  const trace = memoryTrace(mulberry32(8), H, G, d, P, S);

  it('with topP 1 spends the whole budget: the wrapped method itself', async () => {
    await withBackend('wasm', async () => {
      for (const [name, extra] of [['oracle', {}], ['quest', { pageSize: 8 }], ['infllm', { blockSize: 8, representativeKeys: 3 }], ['infinigen', { select: 'top-b' }], ['clusterkv', { clusters: 20, iters: 4, windowClusters: 2 }]] as const) {
        const base = await runSelector(method(name, extra), trace);
        const wrapped = await runSelector(method(`${name}-topp`, { ...(name === 'infinigen' ? {} : extra), topP: 1 }), trace);
        expect(wrapped.map((r) => r.tokens.map(sorted))).toEqual(base.map((r) => r.tokens.map(sorted)));
      }
    });
  });

  it('floor and cap bound each head\'s budget and the layer\'s', () => {
    expect(Array.from(layerBudget([1, 30, 3, 10], 20, { minShare: 0.25, headBudget: 'head' }) as Int32Array)).toEqual([5, 20, 5, 10]);
    expect(layerBudget([1, 2, 3], 20, { minShare: 0.25, headBudget: 'max' })).toBe(5);
    expect(layerBudget([1, 30, 3], 20, { minShare: 0, headBudget: 'max' })).toBe(20);
    expect(layerBudget([1, 30, 3, 10], 20, { minShare: 0.25, headBudget: 'mean' })).toBe(Math.floor((5 + 20 + 5 + 10) / 4));
    expect(layerBudget([0], 3, { minShare: 1, headBudget: 'mean' })).toBe(3);
  });

  it('refuses methods that expose no scores or take no budget, and bad parameters by name', () => {
    const wrapped = methodFromDefinition(withTopP(streaming), { budget: 8, denseLayers: 0 });
    expect(() => wrapped.forLayer({ layer: 0, heads: H, kvHeads: G, headDim: d })).toThrow(/streaming-topp: method 'streaming' exposes no scores/);
    expect(() => withTopP(full)).toThrow(/full: a method without a budget/);
    expect(() => method('oracle-topp', { topP: 0 })).toThrow(/oracle-topp: parameter 'topP' must be a number in \(0, 1\]/);
    expect(() => method('oracle-topp', { minShare: 2 })).toThrow(/oracle-topp.*'minShare'/);
    expect(() => method('quest-topp', { headBudget: 'min' })).toThrow(/quest-topp.*'headBudget'/);
    expect(() => method('quest-topp', { pageSize: 0 })).toThrow(/quest-topp.*'pageSize'/);
    expect(() => method('infinigen-topp', { partialRatio: 0 })).toThrow(/infinigen.*'partialRatio'/);
  });

  it('leaks no tensors over many steps', async () => {
    await withBackend('wasm', async () => {
      const methods = [method('oracle-topp', topp), method('clusterkv-topp', { ...topp, clusters: 20, iters: 4, windowClusters: 2 }), method('quest-topp', topp), method('infllm-topp', { ...topp, blockSize: 8 }), method('infinigen-topp', topp)];
      for (const m of methods) await runSelector(m, trace);
      const before = tf.memory().numTensors;
      for (const m of methods) await runSelector(m, trace);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

describe('per-head top-p budgets replayed on a trace file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ckv-topp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("each row (query head) attends the forced set plus its own budget; the step's stats are the heads' mean, min and max; at most the oracle's mass", async () => {
    await withBackend('wasm', async () => {
      const file = path.join(dir, 't.safetensors');
      await writeSyntheticTrace(file, { layers: 2, heads: 4, kvHeads: 2, headDim: 16, context: 600, steps: 6, seed: 5, dtype: 'F32' });
      const reader = await TraceReader.open(file);
      const params = { budget: 64, sinks: 4, window: 4, denseLayers: 0 };
      const methods = [createMethod('oracle-topp', { ...params, topP: 0.8 }), createMethod('oracle', params), createMethod('oracle-topp', { ...params, topP: 1 })];
      const rows = await replayTrace(reader, methods);
      const { prefillLength } = reader.manifest;
      const of = (i: number) => rows.filter((r) => r.method === methods[i].name && r.topP === methods[i].params.topP);
      const [adaptive, oracleRows, whole] = [of(0), of(1), of(2)];
      expect(adaptive.length).toBe(2 * 6 * 4);
      const key = (r: ResultRow) => `${r.layer}|${r.step}|${r.head}`;
      const oracleAt = new Map(oracleRows.map((r) => [key(r), r]));
      let ragged = 0;
      for (const layer of [0, 1]) {
        for (let step = 0; step < 6; step++) {
          const heads = adaptive.filter((r) => r.layer === layer && r.step === step).sort((a, b) => a.head - b.head);
          const forced = refForced(refLayout(heads[0].position, prefillLength, params.sinks, params.window)).length;
          const spent = heads.map((r) => r.tokensAttended - forced);
          expect(heads[0].selectedTokens).toBeCloseTo(spent.reduce((a, b) => a + b, 0) / spent.length, 12);
          expect(heads[0].selectedTokensMin).toBe(Math.min(...spent));
          expect(heads[0].selectedTokensMax).toBe(Math.max(...spent));
          expect(Math.max(...spent)).toBeLessThanOrEqual(params.budget);
          if (new Set(spent).size > 1) ragged++;
          for (const r of heads) {
            expect(r.density).toBeCloseTo(r.tokensAttended / (r.position + 1), 9);
            expect(r.massRecall).toBeLessThanOrEqual((oracleAt.get(key(r))!.massRecall as number) + 1e-6);
          }
        }
      }
      expect(ragged).toBeGreaterThan(0);
      // topP 1: every head spends B, the oracle's rows
      for (const r of whole) for (const m of ['massRecall', 'topkRecall', 'outputRelError', 'tokensAttended', 'tokensLoaded'] as const) expect(r[m]).toBe(oracleAt.get(key(r))![m]);
    });
  });
});
