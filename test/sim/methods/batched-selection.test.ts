/**
 * Every method's batched selection (src/sim/batched-selector.ts, what the decode engine runs) against its
 * tfjs LayerSelector on the software WebGPU adapter: B = 2 sequences, GQA 4:2, from the prompt through
 * closing decode windows, each step's token list equal per query head to the positions the LayerSelector
 * attends (src/sim/batched-parity.ts), with f32 keys and with keys stored f16. Every registered method says
 * how the engine runs it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { batchedParity, batchedParityCases, type BatchedParityCase } from '../../../src/sim/batched-parity.js';
import { referenceReason } from '../../../src/sim/batched-selector.js';
import { createMethod, METHODS, declaredEngine } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const skip = await softwareWebgpu();

const { cases, missing } = batchedParityCases();

/** Variants beyond the parity cases: a prompt inside the sinks, a budget past the selectable range, another seed. */
const base = { batch: 2, heads: 4, kvHeads: 2, headDim: 8, steps: 14, seed: 9 };
const shared = { budget: 8, sinks: 4, window: 6, denseLayers: 0 };
const VARIANTS: BatchedParityCase[] = [
  { ...base, method: 'clusterkv', prompt: 3, params: { ...shared, windowClusters: 2, tokensPerCluster: 5, iters: 4, diagnostics: false } },
  { ...base, method: 'clusterkv', prompt: 20, params: { ...shared, windowClusters: 3, tokensPerCluster: 4, iters: 3, diagnostics: false, scoring: 'bound', seed: 2 } },
  { ...base, method: 'oracle', prompt: 9, params: { ...shared, budget: 40 } },
  { ...base, method: 'quest', prompt: 3, params: { ...shared, pageSize: 3, budgetMode: 'including-sinks', budget: 9 } },
  { ...base, method: 'streaming', prompt: 12, params: { ...shared, budget: 30 } },
  { ...base, method: 'random', prompt: 25, params: { ...shared, seed: 11, budget: 5 } },
  { ...base, method: 'infllm', prompt: 25, params: { ...shared, blockSize: 3, representativeKeys: 3 } },
  { ...base, method: 'h2o', prompt: 3, params: { ...shared, recentRatio: 0.75 } },
  { ...base, method: 'h2o', prompt: 20, params: { ...shared, budget: 30, recentRatio: 0 } },
  // keys stored f16, as the engine's f16 KV cache holds them: the kernels that read keys read f16
  { ...base, method: 'oracle', prompt: 20, keys: 'f16', params: { ...shared } },
  { ...base, method: 'h2o', prompt: 20, keys: 'f16', params: { ...shared, recentRatio: 0.25, budget: 10 } },
  { ...base, method: 'clusterkv', prompt: 20, keys: 'f16', params: { ...shared, windowClusters: 2, tokensPerCluster: 5, iters: 4, diagnostics: false, scoring: 'bound' } },
  { ...base, method: 'clusterkv-refine', prompt: 20, keys: 'f16', params: { ...shared, windowClusters: 2, tokensPerCluster: 5, iters: 4, diagnostics: false, refine: 2 } },
  // a pool past the selectable range: ClusterKV's pool is every selectable token, the refinement is the oracle's top B
  { ...base, method: 'clusterkv-refine', prompt: 12, params: { ...shared, windowClusters: 2, tokensPerCluster: 3, iters: 3, diagnostics: false, refine: 8 } },
  // InfiniGen fit on the prompt's keys when handed no queries (the trace rule), a prompt inside the sinks, f16 keys
  // (query 'exact': the engine's form; 'speculated' is reference-only there)
  { ...base, method: 'infinigen', prompt: 20, promptQueries: false, params: { ...shared, select: 'top-b', partialRatio: 0.25, query: 'exact' } },
  { ...base, method: 'infinigen', prompt: 3, params: { ...shared, select: 'top-b', query: 'exact' } },
  { ...base, method: 'infinigen', prompt: 20, keys: 'f16', params: { ...shared, select: 'top-b', partialRatio: 0.5, query: 'exact' } },
  // the threshold with f16 keys, and fit on the keys (no prompt queries)
  { ...base, method: 'infinigen', prompt: 20, keys: 'f16', params: { ...shared, select: 'threshold', alpha: 0.5, query: 'exact' } },
  { ...base, method: 'infinigen', prompt: 20, promptQueries: false, params: { ...shared, select: 'threshold', alpha: 0.5, query: 'exact' } },
];

describe('engine forms', () => {
  it('every registered method declares how the decode engine runs it, and each batched one has parity parameters', () => {
    for (const m of METHODS) expect(m.engine, `method '${m.name}' declares no engine form`).toBeDefined();
    expect(missing).toEqual([]);
    const kinds = Object.fromEntries(METHODS.map((m) => [m.name, declaredEngine(m).kind]));
    expect(kinds.full).toBe('dense');
    for (const name of ['oracle', 'clusterkv', 'clusterkv-refine', 'quest', 'infllm', 'streaming', 'h2o', 'random', 'infinigen']) expect(kinds[name]).toBe('batched');
  });

  it('infinigen runs on the engine with either select and the exact query, fit on the prompt queries the engine hands it', () => {
    for (const select of ['top-b', 'threshold']) {
      const form = createMethod('infinigen', { budget: 8, select, query: 'exact' }).engine;
      expect(form?.kind, select).toBe('batched');
      expect(form?.kind === 'batched' && form.promptQueries, select).toBe(true);
      // the speculated query (the default) needs the previous layer's attention input: the reference path only
      const speculated = createMethod('infinigen', { budget: 8, select }).engine;
      expect(speculated?.kind, select).toBe('reference');
      expect(referenceReason(speculated), select).toMatch(/^with query = 'speculated': .*previous layer's attention input/);
    }
  });
});

describe.skipIf(!!skip)('batched selections on the software WebGPU adapter', () => {
  it.each([...cases, ...VARIANTS].map((c) => ({ ...c, name: `${c.method} ${JSON.stringify(c.params)} P=${c.prompt}${c.keys ? ` ${c.keys} keys` : ''}` })))('$name: token lists equal the tfjs selector', async (c) => {
    const before = tf.memory().numTensors;
    const r = await batchedParity(c);
    expect(r.first ?? 'none', r.label).toBe('none');
    expect(r.mismatches).toBe(0);
    expect(r.lists).toBe(c.steps * c.batch * c.heads);
    expect(r.selectingSteps).toBeGreaterThan(0);
    expect(r.closedWindows).toBeGreaterThanOrEqual(2);
    // only InfiniGen's threshold takes fewer than its slots (empty slots), and its cases do
    if (c.params.select === 'threshold') expect(r.emptySlots).toBeGreaterThan(0);
    else expect(r.emptySlots).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
