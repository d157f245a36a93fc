/** Synthetic traces: determinism, structure that matters for clustering, reference output, export, Python. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SYNTH, TraceError, TraceReader, exportTrace, writeSyntheticTrace, type TraceManifest } from '../../src/trace/index.js';
import { applyRope, ropeFrequencies } from '../../src/trace/rope.js';
import { itNeeds, pythonWithNumpy } from '../helpers/requirements.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ckv-synth-'));
const SMALL = { layers: 2, heads: 4, kvHeads: 2, headDim: 32, context: 512, steps: 4, seed: 7, dtype: 'F32' as const };

/** Independent reference: softmax attention weights of one query over keys 0..p (float64). q: [d]; k: [G, T, d]. */
function attentionWeights(q: Float32Array, k: Float32Array, g: number, T: number, d: number, p: number): number[] {
  const logits: number[] = [];
  for (let i = 0; i <= p; i++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += q[j] * k[(g * T + i) * d + j];
    logits.push(dot / Math.sqrt(d));
  }
  const max = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

describe('synthetic traces', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_SYNTH).toMatchObject({ layers: 4, heads: 8, kvHeads: 2, headDim: 64, context: 4096, steps: 16, seed: 0, dtype: 'F16' });
  });

  it('is byte-identical for the same seed and differs for another seed', async () => {
    const dir = tmp();
    const a = path.join(dir, 'a.safetensors');
    const b = path.join(dir, 'b.safetensors');
    const c = path.join(dir, 'c.safetensors');
    await writeSyntheticTrace(a, { ...SMALL, dtype: 'F16' });
    await writeSyntheticTrace(b, { ...SMALL, dtype: 'F16' });
    await writeSyntheticTrace(c, { ...SMALL, dtype: 'F16', seed: 8 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readFileSync(a).equals(readFileSync(c))).toBe(false);
  });

  it('records a manifest with P = T - steps and p_s = P + s', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const m = await writeSyntheticTrace(file, SMALL);
    const r = await TraceReader.open(file);
    expect(r.manifest).toEqual(m);
    expect(m).toMatchObject({ source: { kind: 'synthetic' }, contextLength: 512, prefillLength: 508, stepPositions: [508, 509, 510, 511], seed: 7, dtype: 'F32', createdBy: 'clusterkv-lab 0.1.0', keys: 'post-rope' });
    expect(r.hasOut && r.hasTokens).toBe(true);
    await r.close();
  });

  it('validates its options, naming the parameter', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await expect(writeSyntheticTrace(file, { heads: 6, kvHeads: 4 })).rejects.toThrow(/heads \(6\) must be a multiple of kvHeads \(4\)/);
    await expect(writeSyntheticTrace(file, { context: 16, steps: 16 })).rejects.toThrow(/steps \(16\) must be smaller than context \(16\)/);
    await expect(writeSyntheticTrace(file, { layers: 0 })).rejects.toThrow(/layers must be an integer >= 1, got 0/);
    await expect(writeSyntheticTrace(file, { headDim: 7 })).rejects.toThrow(/headDim must be even/);
  });

  it('stores out = dense GQA attention over keys 0..p_s (checked against an independent reference)', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeSyntheticTrace(file, SMALL);
    const r = await TraceReader.open(file);
    const { heads: H, kvHeads: G, headDim: d } = r.manifest.model;
    const T = r.manifest.contextLength;
    for (let l = 0; l < 2; l++) {
      const { k, v, q, out } = await r.readLayer(l);
      r.manifest.stepPositions.forEach((p, s) => {
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / G));
          const a = attentionWeights(q.subarray((s * H + h) * d, (s * H + h + 1) * d), k, g, T, d, p);
          for (let j = 0; j < d; j++) {
            let o = 0;
            for (let i = 0; i <= p; i++) o += a[i] * v[(g * T + i) * d + j];
            expect(Math.abs(out![(s * H + h) * d + j] - o)).toBeLessThan(1e-5);
          }
        }
      });
    }
    await r.close();
  });

  it('applies RoPE with interleaved pairs', () => {
    const d = 8;
    const freqs = ropeFrequencies(d, 10000);
    const x = Float64Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
    applyRope(x, 0, 3, freqs);
    for (let i = 0; i < d / 2; i++) {
      const angle = 3 * Math.pow(10000, (-2 * i) / d);
      const [a, b] = i < 2 ? [1, 0] : [0, 1];
      expect(x[2 * i]).toBeCloseTo(a * Math.cos(angle) - b * Math.sin(angle), 12);
      expect(x[2 * i + 1]).toBeCloseTo(a * Math.sin(angle) + b * Math.cos(angle), 12);
    }
  });

  it('has structure: sinks, topic clusters, and peaked but not trivial attention', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const T = 2048;
    await writeSyntheticTrace(file, { layers: 3, heads: 8, kvHeads: 2, headDim: 64, context: T, steps: 4, seed: 0, dtype: 'F32' });
    const r = await TraceReader.open(file);
    const { heads: H, kvHeads: G, headDim: d } = r.manifest.model;
    const tokens = (await r.readTokens())!;
    expect(tokens[0]).toBe(1);
    const recalls: number[] = [];
    let sinkMass = 0;
    let cells = 0;
    let sameTopicCos = 0;
    let otherCos = 0;
    for (let l = 0; l < 3; l++) {
      const { k, q } = await r.readLayer(l);
      r.manifest.stepPositions.forEach((p, s) => {
        for (let h = 0; h < H; h++) {
          const a = attentionWeights(q.subarray((s * H + h) * d, (s * H + h + 1) * d), k, Math.floor(h / (H / G)), T, d, p);
          const sorted = [...a].sort((x, y) => y - x);
          recalls.push(sorted.slice(0, 128).reduce((x, y) => x + y, 0)); // top 1/16 of the keys, as top-256 of 4K
          sinkMass += a[0] + a[1] + a[2] + a[3];
          cells++;
        }
      });
      // Cosine of post-RoPE keys: neighbours (same topic run, mostly) vs keys far apart.
      const cos = (i: number, j: number) => {
        let dot = 0, ni = 0, nj = 0;
        for (let x = 0; x < d; x++) {
          dot += k[i * d + x] * k[j * d + x];
          ni += k[i * d + x] ** 2;
          nj += k[j * d + x] ** 2;
        }
        return dot / Math.sqrt(ni * nj);
      };
      for (let i = 16; i < T - 1; i += 7) {
        sameTopicCos += cos(i, i + 1);
        otherCos += cos(i, (i + T / 2) % T);
      }
    }
    recalls.sort((a, b) => a - b);
    const median = recalls[Math.floor(recalls.length / 2)];
    expect(median).toBeGreaterThan(0.4);
    expect(median).toBeLessThan(0.92);
    expect(recalls[Math.floor(recalls.length * 0.1)]).toBeGreaterThan(0.15); // not uniform
    expect(recalls[Math.floor(recalls.length * 0.9)]).toBeLessThan(0.995); // not all one-hot
    expect(sinkMass / cells).toBeGreaterThan(0.05); // 4 of 2048 tokens would get 0.002 uniformly
    expect(sameTopicCos).toBeGreaterThan(otherCos + 0.2 * (3 * Math.floor((T - 17) / 7)));
    await r.close();
  });
});

describe('export', () => {
  it('keeps the chosen layers, KV heads (with their query heads) and steps, and converts dtype', async () => {
    const dir = tmp();
    const src = path.join(dir, 'src.safetensors');
    const dest = path.join(dir, 'dest.safetensors');
    await writeSyntheticTrace(src, { ...SMALL, dtype: 'F32' });
    const m: TraceManifest = await exportTrace(src, dest, { layers: [1], kvHeads: [1], steps: [3, 1], dtype: 'F16' });
    const a = await TraceReader.open(src);
    const b = await TraceReader.open(dest);
    expect(b.manifest).toEqual(m);
    expect(m.model).toMatchObject({ layers: 1, heads: 2, kvHeads: 1 });
    expect(m.stepPositions).toEqual([509, 511]);
    expect(m.dtype).toBe('F16');
    const from = await a.readLayer(1);
    const to = await b.readLayer(0);
    const { headDim: d } = a.manifest.model;
    const T = 512;
    const close = (x: number, y: number) => Math.abs(x - y) <= Math.abs(y) * 2 ** -11 + 2 ** -24;
    for (let i = 0; i < T * d; i++) if (!close(to.k[i], from.k[T * d + i]) || !close(to.v[i], from.v[T * d + i])) throw new Error(`k/v differ at ${i}`);
    // q [S, H, d]: new step 0 = old step 1, new step 1 = old step 3; new heads 0, 1 = old heads 2, 3 (KV head 1).
    for (const [ns, os] of [[0, 1], [1, 3]]) {
      for (let nh = 0; nh < 2; nh++) {
        for (let j = 0; j < d; j++) {
          expect(close(to.q[(ns * 2 + nh) * d + j], from.q[(os * 4 + nh + 2) * d + j])).toBe(true);
          expect(close(to.out![(ns * 2 + nh) * d + j], from.out![(os * 4 + nh + 2) * d + j])).toBe(true);
        }
      }
    }
    expect(Array.from((await b.readTokens())!)).toEqual(Array.from((await a.readTokens())!));
    await a.close();
    await b.close();
    await expect(exportTrace(src, dest, { layers: [2] })).rejects.toThrow(TraceError);
    await expect(exportTrace(src, dest, { steps: [0, 0] })).rejects.toThrow(/repeated index/);
  });
});

describe('Python reads the trace', () => {
  itNeeds('numpy', 'traces/read_trace.py agrees on manifest, shapes and values', async () => {
    const python = pythonWithNumpy();
    if (!python) throw new Error('no python3 with numpy found ($PYTHON, python3, /usr/bin/python3); install python3-numpy');
    const file = path.join(tmp(), 't.safetensors');
    await writeSyntheticTrace(file, { ...SMALL, dtype: 'F16' });
    const script = path.join(__dirname, '..', '..', 'traces', 'read_trace.py');
    const run = spawnSync(python, [script, file, 'layers.1.q', 'tokens'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    const r = await TraceReader.open(file);
    expect(JSON.parse(lines[0])).toEqual(r.manifest);
    const numpyNames: Record<string, string> = { F16: 'float16', F32: 'float32', I32: 'int32' };
    const listed = [...r.tensors.values()].map((t) => `${t.name} ${numpyNames[t.dtype]} [${t.shape.join(', ')}]`);
    expect(lines.slice(1, 1 + listed.length)).toEqual(listed);
    const q = await r.readTensor('layers.1.q');
    const tokens = await r.readTensor('tokens');
    expect(lines[1 + listed.length].startsWith('layers.1.q ')).toBe(true);
    expect(JSON.parse(lines[1 + listed.length].slice('layers.1.q '.length))).toEqual(Array.from(q.subarray(0, 8)));
    expect(JSON.parse(lines[2 + listed.length].slice('tokens '.length))).toEqual(Array.from(tokens.subarray(0, 8)));
    await r.close();
  });
});
