/**
 * The engine's prefill and storage dtypes on the software WebGPU adapter, against the tfjs forward pass on the
 * same weights (one runtime: prefill on the GPU in chunks, then decode from the cache it wrote):
 *   stories260K    f32: prompts prefilled in ragged chunks into both sequences of one cache, then decoded
 *                  teacher-forced: every logit row equals the tfjs pass (worst relative difference < 1e-4)
 *   ckvlab hf-f16  the F16 checkpoint read straight into f16 weights (the tfjs loader widens the same values):
 *                  < 1e-4 with an f32 KV cache; an f16 cache rounds K and V: < 5e-3 (measured 8.6e-4)
 *   Qwen2.5-shaped a random checkpoint written here (q/k/v biases, 14 heads of 64, GQA 7:1, tied head)
 * Nothing leaks: the tensor count is unchanged after each run.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { engineModelFrom, loadEngineModel, type EngineModel } from '../../../src/model/engine/engine-model.js';
import { EngineSession } from '../../../src/model/engine/engine-session.js';
import { loadModel } from '../../../src/model/load.js';
import { writeRandomCheckpoint } from '../../../src/model/random-checkpoint.js';
import type { LlamaModel } from '../../../src/model/transformer.js';
import { argmax } from '../../../src/model/sampling.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { worstRelative } from '../../helpers/tensors.js';
import { lcgTokens } from '../../helpers/tokens.js';

const skip = await softwareWebgpu();
const MODELS = path.resolve(process.cwd(), '../shared/models');

const ids = lcgTokens;

/** Logits [T, V] of every position through the tfjs forward pass. */
async function reference(model: LlamaModel, tokens: number[]): Promise<Float32Array> {
  const session = model.session('dense');
  const logits = await session.forward(tokens);
  const data = (await logits.data()) as Float32Array;
  logits.dispose();
  session.dispose();
  return data;
}

/**
 * Prefills `prompts` (one per sequence, equal lengths P) in chunks of `chunk`, then decodes `next` teacher-
 * forced; the worst relative difference from the reference rows, and whether each prefill's token is its argmax.
 */
async function engineAgainst(model: LlamaModel, engine: EngineModel, prompts: number[][], next: number[][], chunk: number, kv: 'f32' | 'f16'): Promise<{ worst: number; tokensOk: boolean }> {
  const V = model.config.vocabSize;
  const P = prompts[0].length;
  const want = await Promise.all(prompts.map((p, b) => reference(model, [...p, ...next[b]])));
  const before = tf.memory().numTensors;
  const session = new EngineSession(engine, { attention: 'dense', batch: prompts.length, capacity: P + next[0].length, maxSteps: next[0].length, kv, prefillChunk: chunk });
  let worst = 0;
  let tokensOk = true;
  try {
    // the second sequence first: a prefill writes only its own sequence's rows
    for (const b of [...prompts.keys()].reverse()) {
      await session.prefill(b, prompts[b]);
      const row = want[b].subarray((P - 1) * V, P * V);
      worst = Math.max(worst, worstRelative(await session.prefillLogits(), row));
      tokensOk &&= (await session.prefillToken()) === argmax(row);
    }
    session.releasePrefill();
    await session.start(P);
    for (let i = 0; i < next[0].length; i++) {
      session.step({ tokens: next.map((n) => n[i]) });
      const got = await session.engine.readLogits();
      for (let b = 0; b < prompts.length; b++) worst = Math.max(worst, worstRelative(got.subarray(b * V, (b + 1) * V), want[b].subarray((P + i) * V, (P + i + 1) * V)));
    }
  } finally {
    await session.dispose();
  }
  expect(tf.memory().numTensors).toBe(before);
  return { worst, tokensOk };
}

describe.skipIf(!!skip)('engine prefill on the software WebGPU adapter', () => {
  it('stories260K, f32: ragged chunks into two sequences of one cache, then decode, equal the tfjs forward pass', async () => {
    const model = await loadModel(path.join(MODELS, 'stories260K/stories260K.bin'));
    const engine = await engineModelFrom(model);
    try {
      const V = model.config.vocabSize;
      const r = await engineAgainst(model, engine, [ids(37, V, 1), ids(37, V, 2)], [ids(5, V, 3), ids(5, V, 4)], 16, 'f32');
      expect(r.worst).toBeLessThan(1e-4);
      expect(r.tokensOk).toBe(true);
    } finally {
      engine.dispose();
      model.dispose();
    }
  }, 120_000);

  it('ckvlab-9m-16k from its F16 checkpoint: f16 weights equal the tfjs pass on the same values; an f16 KV cache within 5e-3', async () => {
    const dir = path.join(MODELS, 'ckvlab-9m-16k/hf-f16');
    const model = await loadModel(dir);
    const engine = await loadEngineModel(dir);
    try {
      expect(engine.weights.dtype).toBe('f16');
      const V = model.config.vocabSize;
      const prompts = [ids(24, V, 5)];
      const next = [ids(4, V, 6)];
      expect((await engineAgainst(model, engine, prompts, next, 16, 'f32')).worst).toBeLessThan(1e-4);
      const half = await engineAgainst(model, engine, prompts, next, 16, 'f16');
      expect(half.worst).toBeLessThan(5e-3);
      expect(half.worst).toBeGreaterThan(1e-6); // the cache really was rounded
    } finally {
      engine.dispose();
      model.dispose();
    }
  }, 180_000);

  it('a Qwen2.5-0.5B-shaped random checkpoint (biases, GQA 7:1, tied head), f16: equals the tfjs pass', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ckv-qwen-'));
    writeRandomCheckpoint(dir, { shape: 'qwen2.5-0.5b', layers: 1, vocab: 300, seed: 4 });
    const model = await loadModel(dir);
    const engine = await loadEngineModel(dir);
    try {
      const r = await engineAgainst(model, engine, [ids(12, 300, 7)], [ids(3, 300, 8)], 8, 'f32');
      expect(r.worst).toBeLessThan(1e-3);
    } finally {
      engine.dispose();
      model.dispose();
    }
  }, 180_000);
});
