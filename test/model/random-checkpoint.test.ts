/**
 * Random-weight checkpoints of real shapes (src/model/random-checkpoint.ts), reduced in layers and vocabulary:
 * the loader reads them as the shape's model (config, every tensor's shape, Qwen2's biases, a tied head), the
 * index of a sharded one, the byte-level tokenizer round-trips text, and the weights are a pure function of
 * the seed.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { openHfTensors } from '../../src/model/hf-loader.js';
import { loadModel, loadTokenizer } from '../../src/model/load.js';
import { RANDOM_CHECKPOINT_SHAPES, writeRandomCheckpoint } from '../../src/model/random-checkpoint.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ckv-random-ckpt-'));

describe('random checkpoints of real shapes', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('Qwen2.5-0.5B reduced to 1 layer: the loader reads its shape, biases and tied head; the tokenizer round-trips', async () => {
    const dir = tmp();
    const r = writeRandomCheckpoint(dir, { shape: 'qwen2.5-0.5b', layers: 1, vocab: 300, seed: 3 });
    expect(r.files).toEqual(['model.safetensors']);
    const model = await loadModel(dir);
    const full = RANDOM_CHECKPOINT_SHAPES['qwen2.5-0.5b'];
    expect(model.config).toMatchObject({ dim: full.hidden_size, hiddenDim: full.intermediate_size, layers: 1, heads: 14, kvHeads: 2, headDim: 64, vocabSize: 300, qkvBias: true, tiedEmbeddings: true, ropeTheta: 1e6 });
    const l = model.weights.layers[0];
    expect(l.wq.shape).toEqual([896, 896]);
    expect(l.bk!.shape).toEqual([128]);
    expect(r.parameters).toBe(300 * 896 + 896 * 896 * 2 + 2 * 128 * 896 + 896 + 256 + 3 * 896 * 4864 + 3 * 896);
    // matrices have variance 1 / in: their rms is 1 / sqrt(in)
    const w = (await l.w2.data()) as Float32Array;
    const rms = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(rms * Math.sqrt(4864)).toBeCloseTo(1, 1);
    const tokenizer = await loadTokenizer(undefined, model);
    const text = 'Call me Ishmael. Some years ago\u2014never mind how long.';
    const ids = tokenizer.encode(text);
    expect(ids[0]).toBe(256);
    expect(ids.length).toBe(1 + Buffer.byteLength(text));
    expect(tokenizer.decode(ids)).toBe(text);
    expect(tokenizer.stopIds).toEqual([257]);
    model.dispose();
  });

  it('Llama-3.2-1B sharded through an index; the same seed writes the same bytes, another seed others', async () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    const opts = { shape: 'llama-3.2-1b', layers: 1, vocab: 300, shardBytes: 20e6 };
    const r = writeRandomCheckpoint(a, { ...opts, seed: 1 });
    writeRandomCheckpoint(b, { ...opts, seed: 1 });
    writeRandomCheckpoint(c, { ...opts, seed: 2 });
    expect(r.files.length).toBeGreaterThan(1);
    expect(readdirSync(a)).toContain('model.safetensors.index.json');
    const t = await openHfTensors(a);
    expect(t.config).toMatchObject({ dim: 2048, heads: 32, kvHeads: 8, headDim: 64, hiddenDim: 8192, layers: 1, qkvBias: false, tiedEmbeddings: true });
    const down = await t.find('model.layers.0.mlp.down_proj.weight');
    expect(down.tensor).toMatchObject({ dtype: 'F16', shape: [2048, 8192] });
    expect(r.files.map((f) => path.join(a, f))).toContain(down.file);
    await t.close();
    const bytes = (dir: string) => r.files.map((f) => readFileSync(path.join(dir, f)));
    expect(bytes(a).every((x, i) => x.equals(bytes(b)[i]))).toBe(true);
    expect(bytes(a)[0].equals(bytes(c)[0])).toBe(false);
  });

  it('refuses an unknown shape and a vocabulary smaller than the tokenizer', () => {
    expect(() => writeRandomCheckpoint(tmp(), { shape: 'gpt-5' })).toThrow(/unknown shape 'gpt-5'/);
    expect(() => writeRandomCheckpoint(tmp(), { shape: 'llama-3-8b', vocab: 100 })).toThrow(/vocab must be an integer >= 258/);
  });
});
