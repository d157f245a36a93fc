/**
 * Golden tests of the model runtime against outputs of independent implementations:
 * stories260K greedy text from llama2.c itself, ckvlab-9m-16k teacher-forced logits from an independent
 * float32 forward pass (see ../shared/models/ckvlab-9m-16k/README.md).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { generate } from '../../src/model/generate.js';
import { loadLlama2c } from '../../src/model/llama2c-loader.js';
import { Llama2cTokenizer } from '../../src/model/llama2c-tokenizer.js';
import { createSampler } from '../../src/model/sampling.js';
import { LlamaModel } from '../../src/model/transformer.js';

const MODELS = path.resolve(process.cwd(), '../shared/models');
const STORIES = path.join(MODELS, 'stories260K');
const CKV = path.join(MODELS, 'ckvlab-9m-16k');
const TOKENIZER = path.join(STORIES, 'tok512.bin');

/** float32 implementations differ in summation order; the largest difference seen is ~3e-5 (wasm and cpu) */
const LOGIT_TOLERANCE = 2e-4;
/** greedy ids must agree where the expected top-1 logit beats the runner-up by more than this */
const CLEAR_MARGIN = 0.01;

describe.each(['wasm', 'cpu'])('model golden outputs on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('stories260K: greedy 200 steps from BOS print llama2.c reference text', async () => {
    const model = new LlamaModel(await loadLlama2c(path.join(STORIES, 'stories260K.bin')));
    const tok = await Llama2cTokenizer.load(TOKENIZER, model.config.vocabSize);
    const session = model.session();
    const result = await generate(session, [tok.bos], { steps: 200, sampler: createSampler(0, 0), stopIds: tok.stopIds });
    const decodeNext = tok.streamDecoder(tok.bos);
    const text = result.ids.map(decodeNext).join('');
    expect(text).toBe(readFileSync(path.join(STORIES, 'expected-greedy-200.txt'), 'utf8'));
    session.dispose();
    model.dispose();
  });

  describe('ckvlab-9m-16k', () => {
    let model: LlamaModel;
    let tok: Llama2cTokenizer;
    const golden = JSON.parse(readFileSync(path.join(CKV, 'golden.json'), 'utf8')) as {
      prompt: string;
      prompt_ids: number[];
      greedy_ids: number[];
      greedy_text: string;
    };
    const expected = new Float32Array(readFileSync(path.join(CKV, 'expected-logits.f32')).buffer.slice(0));
    const V = 512;
    const rows = expected.length / V; // row i = logits after token i of prompt_ids + greedy_ids
    const ids = [...golden.prompt_ids, ...golden.greedy_ids].slice(0, rows);

    beforeAll(async () => {
      model = new LlamaModel(await loadLlama2c(path.join(CKV, 'model.bin')));
      tok = await Llama2cTokenizer.load(TOKENIZER, model.config.vocabSize);
    });
    afterAll(() => model.dispose());

    it('tokenizer encodes the prompt and decodes the continuation as golden.json', () => {
      expect(tok.encode(golden.prompt)).toEqual(golden.prompt_ids);
      expect(tok.decode(golden.greedy_ids)).toBe(golden.greedy_text);
    });

    it(`teacher-forced logits match expected-logits.f32 within ${LOGIT_TOLERANCE}`, async () => {
      const session = model.session();
      const logits = await session.forward(ids);
      const got = await logits.data();
      logits.dispose();
      session.dispose();
      let maxDiff = 0;
      for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
      console.log(`ckvlab-9m-16k teacher-forced logits on ${backend}: max |diff| = ${maxDiff.toExponential(2)} over ${rows} x ${V}`);
      expect(maxDiff).toBeLessThan(LOGIT_TOLERANCE);
    });

    it(`decode steps agree with the golden logits and greedy ids where the margin > ${CLEAR_MARGIN}`, async () => {
      const P = golden.prompt_ids.length;
      const session = model.session();
      let maxDiff = 0;
      let checked = 0;
      const countsAfterStep = new Set<number>();
      let logits: tf.Tensor = await session.forward(golden.prompt_ids, true);
      for (let row = P - 1; row < rows; row++) {
        const got = await logits.data();
        logits.dispose();
        const want = expected.subarray(row * V, (row + 1) * V);
        for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
        const sorted = Array.from(want).sort((a, b) => b - a);
        if (sorted[0] - sorted[1] > CLEAR_MARGIN) {
          expect(argmaxOf(got)).toBe(golden.greedy_ids[row - P + 1]);
          checked++;
        }
        if (row + 1 < rows) {
          logits = await session.step(ids[row + 1]);
          countsAfterStep.add(tf.memory().numTensors);
        }
      }
      expect(checked).toBeGreaterThan(80);
      expect(maxDiff).toBeLessThan(LOGIT_TOLERANCE);
      // the KV caches grow in size, not in tensor count: a decode loop must not accumulate tensors
      expect(countsAfterStep.size).toBe(1);
      session.dispose();
    });
  });
});

function argmaxOf(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
