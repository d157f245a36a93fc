/**
 * Trace capture from stories260K: the trace reads back through TraceReader, its manifest describes the run,
 * replaying the stored q/k/v with full attention (a plain-TypeScript reference here) reproduces the stored
 * dense outputs, and the capture's keys/queries agree with the model's own decode path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { captureTrace, checkpointSha256 } from '../../src/model/capture.js';
import { loadModel, loadTokenizer } from '../../src/model/load.js';
import { encodePrefix, readText } from '../../src/model/texts.js';
import type { LlamaModel } from '../../src/model/transformer.js';
import { TraceReader } from '../../src/trace/reader.js';

const STORIES = path.resolve(process.cwd(), '../shared/models/stories260K');

/** Full causal attention of one query at position p over keys 0..p, float64. q: [d]; k, v: [G, T, d]. */
function referenceAttention(q: Float32Array, k: Float32Array, v: Float32Array, g: number, T: number, d: number, p: number): Float64Array {
  const logits = new Float64Array(p + 1);
  let max = -Infinity;
  for (let i = 0; i <= p; i++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += q[j] * k[(g * T + i) * d + j];
    logits[i] = dot / Math.sqrt(d);
    max = Math.max(max, logits[i]);
  }
  const out = new Float64Array(d);
  let sum = 0;
  for (let i = 0; i <= p; i++) {
    const w = Math.exp(logits[i] - max);
    sum += w;
    for (let j = 0; j < d; j++) out[j] += w * v[(g * T + i) * d + j];
  }
  return out.map((x) => x / sum);
}

describe.each(['wasm', 'cpu'])('trace capture on %s', (backend) => {
  let model: LlamaModel;
  let dir: string;
  let tokens: number[];
  const N = 200;
  const S = 8;

  beforeAll(async () => {
    await useBackend(backend);
    model = await loadModel(path.join(STORIES, 'stories260K.bin'));
    const tok = await loadTokenizer(path.join(STORIES, 'tok512.bin'), model);
    tokens = encodePrefix(tok, (await readText('moby-dick')).text, N + S);
    dir = mkdtempSync(path.join(tmpdir(), 'ckv-capture-'));
  });
  afterAll(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a v1 trace whose dense outputs replay exactly from its q/k/v', async () => {
    const file = path.join(dir, 'cap.safetensors');
    // small row and score chunks so chunking across rows and queries is exercised
    const before = tf.memory().numTensors;
    await captureTrace(model, tokens, file, { prefillLength: N, steps: S, dtype: 'F32', prompt: 'Moby Dick', rowChunk: 64 });
    expect(tf.memory().numTensors).toBe(before);
    const reader = await TraceReader.open(file);
    try {
      const m = reader.manifest;
      const { layers: L, heads: H, kvHeads: G, headDim: d } = model.config;
      expect(m.source).toMatchObject({ kind: 'model', name: 'stories260K', sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696' });
      expect(m.model).toEqual({ layers: L, heads: H, kvHeads: G, headDim: d, ropeTheta: 10000 });
      expect(m.contextLength).toBe(N + S);
      expect(m.prefillLength).toBe(N);
      expect(m.stepPositions).toEqual(Array.from({ length: S }, (_, i) => N + i));
      expect(Array.from((await reader.readTokens())!)).toEqual(tokens);
      const T = N + S;
      let maxDiff = 0;
      for (let l = 0; l < L; l++) {
        const layer = await reader.readLayer(l);
        for (let s = 0; s < S; s++) {
          for (let h = 0; h < H; h++) {
            const q = layer.q.subarray((s * H + h) * d, (s * H + h + 1) * d);
            const ref = referenceAttention(q, layer.k, layer.v, Math.floor(h / (H / G)), T, d, N + s);
            for (let j = 0; j < d; j++) maxDiff = Math.max(maxDiff, Math.abs(ref[j] - layer.out![(s * H + h) * d + j]));
          }
        }
      }
      expect(maxDiff).toBeLessThan(1e-5);
    } finally {
      await reader.close();
    }
  });

  it('gives the same trace whatever the row and query chunking', async () => {
    const small = path.join(dir, 'cap.safetensors'); // written by the test above with 64-row chunks
    const whole = path.join(dir, 'whole.safetensors');
    await captureTrace(model, tokens, whole, { prefillLength: N, steps: S, dtype: 'F32', prompt: 'Moby Dick', rowChunk: 4096 });
    const [a, b] = await Promise.all([TraceReader.open(small), TraceReader.open(whole)]);
    let maxDiff = 0;
    for (let l = 0; l < model.config.layers; l++) {
      const [la, lb] = [await a.readLayer(l), await b.readLayer(l)];
      for (const key of ['k', 'v', 'q', 'out'] as const) {
        const [x, y] = [la[key]!, lb[key]!];
        for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
      }
    }
    await Promise.all([a.close(), b.close()]);
    expect(maxDiff).toBeLessThan(1e-4);
  });
});

describe('capture from a Hugging Face folder', () => {
  it('records the checkpoint sha256 of the folder (config.json and the safetensors) and writes a trace (it used to stop on EISDIR)', async () => {
    await useBackend('wasm');
    const folder = path.resolve(process.cwd(), '../shared/models/ckvlab-9m-16k/hf-f16');
    const model = await loadModel(folder);
    const tok = await loadTokenizer(path.join(STORIES, 'tok512.bin'), model);
    const tokens = encodePrefix(tok, (await readText('moby-dick')).text, 66);
    const dir = mkdtempSync(path.join(tmpdir(), 'ckv-capture-hf-'));
    try {
      const r = await captureTrace(model, tokens, path.join(dir, 't.safetensors'), { prompt: 'moby', prefillLength: 64, steps: 2, dtype: 'F32' });
      expect(r.manifest.source.sha256).toBe(await checkpointSha256(folder));
      expect(r.manifest.source.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(await checkpointSha256(folder)).not.toBe(await checkpointSha256(path.join(folder, 'config.json')));
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
