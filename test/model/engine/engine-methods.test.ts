/**
 * Every method the decode engine runs (src/model/engine/engine-parity.ts: full densely, the others through
 * their batched selections) generating on stories260K (a real trained Llama: GQA 8:4, head dim 8) on the
 * software WebGPU adapter, against the tfjs model path (LlamaModel sessions with the same Method) on the
 * same backend and weights: two prompts decoded together, the same greedy tokens and logits within 1e-4,
 * through two closing decode windows, the budget cutting every sparse step; and the same on an f16 KV cache
 * (the same tokens, logits within f16 rounding); and both again with the engine's attention on emulated
 * subgroups (the subgroup kernel dispatch picks on a device with subgroups), the flash-decoding kernels
 * otherwise. InfiniGen also through the chunked GPU prefill (its fit on the queries the prefill hands). A
 * method that runs on the reference path only is refused by the engine in one line.
 */
import { describe, expect, it } from 'vitest';
import { subgroupAttentionTuning } from '../../../src/gpu/wgsl/attention/subgroup-attention.js';
import { subgroupTuning } from '../../../src/gpu/wgsl/runtime/capabilities.js';
import { withTuning } from '../../../src/gpu/wgsl/runtime/tuning.js';
import { DecodeEngine } from '../../../src/model/engine/decode-engine.js';
import { ENGINE_PARITY_SHARED, engineParity, engineParityMethods, engineParityPrompts } from '../../../src/model/engine/engine-parity.js';
import { EngineSession } from '../../../src/model/engine/engine-session.js';
import { generate } from '../../../src/model/generate.js';
import { createSampler } from '../../../src/model/sampling.js';
import { referenceOnly } from '../../../src/sim/batched-selector.js';
import { createMethod, defineMethod, methodDefinition, methodFromDefinition } from '../../../src/sim/methods/index.js';
import { worstRelative } from '../../helpers/tensors.js';
import { storiesOnEngine } from '../../helpers/engine-model.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const skip = await softwareWebgpu();
/**
 * Worst relative logit difference of an f16 KV cache against the f32 tfjs path, stories260K, 10 steps: dense
 * attention moves by f16's rounding of K and V alone (measured 1.3e-2); a sparse selection can also flip a
 * position at the budget's edge (rounded keys score a hair differently, ClusterKV's K-means may group them
 * otherwise), which moves that step's logits more (measured up to 0.19, ClusterKV), the greedy tokens staying
 * the tfjs path's.
 */
const F16_KV_TOLERANCE = { dense: 2e-2, sparse: 0.3 };

describe.skipIf(!!skip)('every engine method on stories260K (software WebGPU) equals the tfjs model path', () => {
  const stories = storiesOnEngine();

  const methods = engineParityMethods('first');
  it('covers full and every batched method', () => {
    expect(methods.map((m) => m.name)).toEqual(['full', 'oracle', 'clusterkv', 'quest', 'infllm', 'streaming', 'h2o', 'random', 'infinigen', 'clusterkv-refine']);
  });

  it.each(methods.map((m) => ({ name: m.name, method: m })))('$name: the same greedy tokens and logits', async ({ method }) => {
    const V = stories.model.config.vocabSize;
    const steps = 10;
    const r = await engineParity(stories.model, stories.weights, method, engineParityPrompts(V), steps);
    expect(r.first ?? 'none', r.label).toBe('none');
    expect(r.tokens).toBe(2 * steps);
    expect(r.worstLogit).toBeLessThan(1e-4);
    // the budget cut every sparse step (full: dense, no cut)
    expect(r.cutSteps).toBe(method.name === 'full' ? 0 : steps - 1);
  });

  // an f16 KV cache: every selection reads f16 keys (oracle's and H2O's kernels in the cache's dtype, the others
  // through the cache's widened rows); a kernel reading them as f32 would select garbage and change the tokens
  it.each(methods.map((m) => ({ name: m.name, method: m })))('$name on an f16 KV cache: the tfjs path\'s tokens, logits within f16 rounding', async ({ method }) => {
    const steps = 10;
    const r = await engineParity(stories.model, stories.weights, method, engineParityPrompts(stories.model.config.vocabSize), steps, 'f16');
    expect(r.first ?? 'none', r.label).toBe('none');
    expect(r.worstLogit).toBeLessThan(method.name === 'full' ? F16_KV_TOLERANCE.dense : F16_KV_TOLERANCE.sparse);
    expect(r.worstLogit).toBeGreaterThan(0);
    expect(r.cutSteps).toBe(method.name === 'full' ? 0 : steps - 1);
  });

  // the subgroup attention (the kernel dispatch picks, f32 and f16 caches alike, on a device with subgroups) on
  // emulated subgroups: 8 lanes, 2 subgroups of one-row tiles per workgroup, so that the 30 positions and the
  // lists take several chunks (merged) and the subgroups meet in workgroup memory; and the defaults on 32 lanes
  const manyChunks = { subgroups: 2, denseRows: 1, sparseRows: 1 };
  const onSubgroups = <R>(lanes: number, knobs: Partial<typeof subgroupAttentionTuning>, f: () => Promise<R>) => withTuning(subgroupTuning, { emulate: lanes }, () => withTuning(subgroupAttentionTuning, knobs, f));
  const cases = [
    ...(['f32', 'f16'] as const).flatMap((kv) => methods.map((method) => ({ name: `${method.name}, ${kv} KV, 8 lanes`, method, kv, lanes: 8, knobs: manyChunks }))),
    ...methods.filter((m) => ['full', 'clusterkv'].includes(m.name)).map((method) => ({ name: `${method.name}, f16 KV, 32 lanes`, method, kv: 'f16' as const, lanes: 32, knobs: {} })),
  ];
  it.each(cases)('on emulated subgroups, $name: the subgroup attention kernel, the tfjs path\'s tokens', async ({ method, kv, lanes, knobs }) => {
    const steps = 6;
    const r = await onSubgroups(lanes, knobs, () => engineParity(stories.model, stories.weights, method, engineParityPrompts(stories.model.config.vocabSize), steps, kv));
    expect(r.attentionKernel).toBe('wgsl-subgroup');
    expect(r.first ?? 'none', r.label).toBe('none');
    expect(r.worstLogit).toBeLessThan(kv === 'f32' ? 1e-4 : method.name === 'full' ? F16_KV_TOLERANCE.dense : F16_KV_TOLERANCE.sparse);
  });

  it('without subgroups the flash-decoding kernels run', async () => {
    const r = await engineParity(stories.model, stories.weights, methods[0], engineParityPrompts(stories.model.config.vocabSize), 2);
    expect(r.attentionKernel).toBe('wgsl');
  });

  // the other way prompts reach the engine: the GPU prefill in chunks (EngineSession.prefill), which hands each
  // chunk's queries to InfiniGen's fit (engineParity runs the prompt as decode steps and hands each step's)
  // (with select 'threshold' at a small alpha too, so that layers take fewer than B: the empty slots)
  // (query 'exact' on both paths: the engine's form scores the step's own query, 'speculated' is reference-only)
  it.each([{ select: 'top-b', partialRatio: 0.5, query: 'exact' }, { select: 'threshold', alpha: 1, query: 'exact' }])('infinigen %j through the chunked GPU prefill: the tfjs path\'s tokens and logits', async (params) => {
    const method = createMethod('infinigen', { ...ENGINE_PARITY_SHARED, ...params });
    const V = stories.model.config.vocabSize;
    const prompts = engineParityPrompts(V);
    const [P, steps] = [prompts[0].length, 8];
    const greedy = createSampler(0, 0);
    const want = [];
    for (const prompt of prompts) {
      const logits: Float32Array[] = [];
      const s = stories.model.session(method);
      want.push({ ids: (await generate(s, prompt, { steps, sampler: greedy, onLogits: (l) => logits.push(Float32Array.from(l)) })).ids, logits });
      s.dispose();
    }
    const session = new EngineSession(stories.engine, { attention: method, batch: 2, capacity: P + steps, maxSteps: steps, kv: 'f32', prefillChunk: 7, observe: true });
    let worst = 0;
    let emptySlots = 0;
    try {
      const first: number[] = [];
      for (const [b, prompt] of prompts.entries()) {
        await session.prefill(b, prompt);
        worst = Math.max(worst, worstRelative(await session.prefillLogits(), want[b].logits[0]));
        first.push(await session.prefillToken());
      }
      session.releasePrefill();
      await session.start(P);
      for (let s = 1; s < steps; s++) {
        const info = session.step(s === 1 ? { tokens: first } : {});
        expect(info.sparseList).toBeLessThan(info.position + 1);
        const lists = await session.engine.readLayerTokenLists(stories.model.config.layers - 1, info.sparseList);
        emptySlots += lists.filter((p) => p < 0).length;
        const got = await session.engine.readLogits();
        for (let b = 0; b < 2; b++) worst = Math.max(worst, worstRelative(got.subarray(b * V, (b + 1) * V), want[b].logits[s]));
      }
      const history = await session.engine.readHistory(steps - 1);
      for (let b = 0; b < 2; b++) expect([first[b], ...history.map((h) => h[b])]).toEqual(want[b].ids);
    } finally {
      await session.dispose();
    }
    expect(worst).toBeLessThan(1e-4);
    // the threshold at this alpha takes fewer than B in some step (empty slots); top-b never
    if (params.select === 'threshold') expect(emptySlots).toBeGreaterThan(0);
    else expect(emptySlots).toBe(0);
  });

  it('refuses to start infinigen without the prompt\'s queries, naming what hands them', async () => {
    const method = createMethod('infinigen', { ...ENGINE_PARITY_SHARED, select: 'top-b', query: 'exact' });
    const engine = new DecodeEngine({ weights: stories.weights, batch: 1, capacity: 16, maxSteps: 16, method });
    try {
      for (let i = 0; i < 8; i++) engine.step({ tokens: [i + 1] });
      await expect(engine.prefillSelection()).rejects.toThrow(/^decode engine: method 'infinigen' fits on the prompt's queries and none were handed/);
    } finally {
      engine.dispose();
    }
  });

  it('refuses a method that runs on the reference path only, naming it and the reason', () => {
    const local = defineMethod({ ...methodDefinition('oracle'), name: 'mine', engine: referenceOnly('it reads the whole cache on the host') });
    expect(() => new DecodeEngine({ weights: stories.weights, batch: 1, capacity: 8, maxSteps: 8, method: methodFromDefinition(local, { budget: 4 }) })).toThrow(/^decode engine: method 'mine' runs on the reference path only \(it reads the whole cache on the host\)$/);
  });
});
