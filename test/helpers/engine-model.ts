/**
 * stories260K (a real trained Llama: GQA 8:4, head dim 8) loaded in tfjs and its weights on the WebGPU
 * engine (and as an EngineModel, for sessions), for the tests that hold the engine against the tfjs model path on the same weights: call inside a
 * describe block (it registers the loading and the disposal); read `.model` and `.weights` in its tests.
 */
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { EngineWeights } from '../../src/model/engine/device-weights.js';
import { engineModelFrom, type EngineModel } from '../../src/model/engine/engine-model.js';
import { loadModel } from '../../src/model/load.js';
import type { LlamaModel } from '../../src/model/transformer.js';

export const STORIES = path.resolve(process.cwd(), '../shared/models/stories260K/stories260K.bin');

export function storiesOnEngine(): { model: LlamaModel; weights: EngineWeights; engine: EngineModel } {
  const held = {} as { model: LlamaModel; weights: EngineWeights; engine: EngineModel };
  beforeAll(async () => {
    held.model = await loadModel(STORIES);
    held.engine = await engineModelFrom(held.model);
    held.weights = held.engine.weights;
  });
  afterAll(() => {
    held.weights?.dispose();
    held.model?.dispose();
  });
  return held;
}
