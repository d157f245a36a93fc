/**
 * Every method the decode engine runs (src/model/e2e/engine-parity.ts: full densely, the others through
 * their batched selections) generating on stories260K (a real trained Llama: GQA 8:4, head dim 8) on the
 * software WebGPU adapter, against the tfjs model path (LlamaModel sessions with the same Method) on the
 * same backend and weights: two prompts decoded together, the same greedy tokens and logits within 1e-4,
 * through two closing decode windows, the budget cutting every sparse step. A method that runs on the
 * reference path only is refused by the engine in one line.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/model/load.js';
import type { LlamaModel } from '../../../src/model/transformer.js';
import { DecodeEngine } from '../../../src/model/e2e/decode-engine.js';
import { engineWeightsFromModel, type EngineWeights } from '../../../src/model/e2e/device-weights.js';
import { engineParity, engineParityMethods, engineParityPrompts } from '../../../src/model/e2e/engine-parity.js';
import { engineShapeOf } from '../../../src/model/e2e/shape.js';
import { referenceOnly } from '../../../src/sim/batched-selector.js';
import { defineMethod, methodDefinition, methodFromDefinition } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const skip = await softwareWebgpu();
const STORIES = path.resolve(process.cwd(), '../shared/models/stories260K/stories260K.bin');

describe.skipIf(!!skip)('every engine method on stories260K (software WebGPU) equals the tfjs model path', () => {
  let model: LlamaModel;
  let weights: EngineWeights;
  beforeAll(async () => {
    model = await loadModel(STORIES);
    weights = engineWeightsFromModel(model, engineShapeOf(model.config));
  });
  afterAll(() => {
    weights?.dispose();
    model?.dispose();
  });

  const methods = engineParityMethods('first');
  it('covers full and every batched method', () => {
    expect(methods.map((m) => m.name)).toEqual(['full', 'oracle', 'clusterkv', 'quest', 'infllm', 'streaming', 'h2o', 'random']);
  });

  it.each(methods.map((m) => ({ name: m.name, method: m })))('$name: the same greedy tokens and logits', async ({ method }) => {
    const V = model.config.vocabSize;
    const steps = 10;
    const r = await engineParity(model, weights, method, engineParityPrompts(V), steps);
    expect(r.first ?? 'none', r.label).toBe('none');
    expect(r.tokens).toBe(2 * steps);
    expect(r.worstLogit).toBeLessThan(1e-4);
    // the budget cut every sparse step (full: dense, no cut)
    expect(r.cutSteps).toBe(method.name === 'full' ? 0 : steps - 1);
  });

  it('refuses a method that runs on the reference path only, naming it and the reason', () => {
    const local = defineMethod({ ...methodDefinition('oracle'), name: 'mine', engine: referenceOnly('it reads the whole cache on the host') });
    expect(() => new DecodeEngine({ weights, batch: 1, capacity: 8, maxSteps: 8, method: methodFromDefinition(local, { budget: 4 }) })).toThrow(/^decode engine: method 'mine' runs on the reference path only \(it reads the whole cache on the host\)$/);
  });
});
