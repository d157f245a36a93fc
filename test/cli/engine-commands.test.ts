/**
 * The commands on webgpu run through the WebGPU engine (one runtime), checked as a user runs them (node
 * bin/clusterkv.js) on the software adapter against the same commands on wasm (the tfjs op path):
 *   generate   dense: the same ids token for token on ckvlab-9m-16k from its golden prompt, the summary naming
 *              the engine, tokens/s and ms/token (text and --json); ClusterKV: the same ids and comparison
 *   capture    the trace equals the op path's capture
 *   eval       passkey: the same answers, accuracies and needle recall; the manifest names the runtime of each
 *              method (every batched one on the engine, a reference-only one on the op path with its reason)
 *   doctor     --model: the fit and the bytes bound of a random checkpoint
 *   e2e        a configuration the device cannot hold: one line naming the bytes and the limit
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRandomCheckpoint } from '../../src/model/random-checkpoint.js';
import { TraceReader } from '../../src/trace/reader.js';
import { softwareWebgpu } from '../helpers/software-webgpu.js';

const skip = await softwareWebgpu();
const root = path.join(__dirname, '..', '..');
const MODELS = path.resolve(root, '../shared/models');
const CKVLAB = path.join(MODELS, 'ckvlab-9m-16k/model.bin');
const TOK = path.join(MODELS, 'stories260K/tok512.bin');
const golden = JSON.parse(readFileSync(path.join(MODELS, 'ckvlab-9m-16k/golden.json'), 'utf8')) as { prompt: string };
const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

/** The CLI on `backend` (none: a command without --backend, on the software adapter when it probes webgpu). */
function clusterkv(backend: 'webgpu' | 'wasm' | undefined, ...args: string[]) {
  const env = { ...process.env, CLUSTERKV_WEBGPU_ADAPTER: 'software', CLUSTERKV_PROGRESS: 'off' };
  const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args, ...(backend ? ['--backend', backend] : [])], { cwd: root, encoding: 'utf8', env });
  const stderr = run.stderr.split('\n').filter((l) => !/^Warning: .*artificially reduced/.test(l)).join('\n');
  return { code: run.status, stdout: run.stdout, stderr };
}

describe.skipIf(!!skip)('commands on the WebGPU engine (software adapter) against the op path (wasm)', () => {
  it('generate: dense ids token for token on ckvlab-9m-16k; the summary names the engine, tokens/s and ms/token', () => {
    const args = ['generate', '--model', CKVLAB, '--tokenizer', TOK, '--prompt', golden.prompt, '--steps', '24'];
    const [gpu, wasm] = [clusterkv('webgpu', ...args, '--json'), clusterkv('wasm', ...args, '--json')];
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(wasm.code, wasm.stderr).toBe(0);
    const [g, w] = [JSON.parse(gpu.stdout), JSON.parse(wasm.stdout)];
    expect(g.ids).toHaveLength(24);
    expect(g.ids).toEqual(w.ids);
    expect(g).toMatchObject({ backend: 'webgpu', runtime: 'WebGPU engine, f32 weights', weights: 'f32', kv: 'f32' });
    expect(w.runtime).toBe('tfjs ops');
    for (const r of [g, w]) for (const k of ['prefillTokensPerSecond', 'decodeTokensPerSecond', 'msPerToken']) expect(r[k], k).toBeGreaterThan(0);
    const text = clusterkv('webgpu', ...args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^prefill \d+ tokens in [\d.]+ s \([\d.]+ tok\/s\), decode 24 tokens at [\d.]+ tok\/s \([\d.]+ ms\/token\) on webgpu \(WebGPU engine, f32 weights, f32 KV, wgsl attention\)$/m);
  }, 240_000);

  it('generate: ClusterKV on the engine generates what the op path does, with the same comparison', () => {
    const args = ['generate', '--model', CKVLAB, '--tokenizer', TOK, '--prompt', golden.prompt, '--steps', '12', '--attention', 'clusterkv', '--budget', '8', '--param', 'sinks=4', '--param', 'window=6', '--param', 'tokensPerCluster=6', '--param', 'denseLayers=1', '--param', 'iters=4', '--json'];
    const [gpu, wasm] = [clusterkv('webgpu', ...args), clusterkv('wasm', ...args)];
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(wasm.code, wasm.stderr).toBe(0);
    const [g, w] = [JSON.parse(gpu.stdout), JSON.parse(wasm.stdout)];
    expect(g.runtime).toBe('WebGPU engine, f32 weights');
    expect(g.ids).toEqual(w.ids);
    expect(g.comparison.stepsBudgetBound).toBe(w.comparison.stepsBudgetBound);
    expect(g.comparison.stepsBudgetBound).toBeGreaterThan(0);
    expect(g.comparison.top1Agreement).toBe(w.comparison.top1Agreement);
    expect(Math.abs(g.comparison.meanKl - w.comparison.meanKl)).toBeLessThan(1e-4 + 1e-3 * w.comparison.meanKl);
  }, 240_000);

  it('capture: the engine prefill gives the trace the op path captures', async () => {
    const dir = tmp('ckv-engine-capture-');
    const file = (b: string) => path.join(dir, `${b}.safetensors`);
    for (const b of ['webgpu', 'wasm'] as const) {
      const run = clusterkv(b, 'capture', '--model', path.join(MODELS, 'stories260K/stories260K.bin'), '--tokenizer', TOK, '--text', 'moby-dick', '--context', '60', '--steps', '6', '--dtype', 'F32', '--out', file(b));
      expect(run.code, run.stderr).toBe(0);
      if (b === 'webgpu') expect(run.stdout).toMatch(/on webgpu \(WebGPU engine, f32 weights\)/);
    }
    const [g, w] = [await TraceReader.open(file('webgpu')), await TraceReader.open(file('wasm'))];
    let worst = 0;
    for (const name of w.tensors.keys()) {
      const [x, y] = [await g.readTensor(name), await w.readTensor(name)];
      expect(x.length, name).toBe(y.length);
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i])));
    }
    await g.close();
    await w.close();
    expect(worst).toBeLessThan(1e-4);
  }, 240_000);

  it('eval passkey: the engine decodes the documents together and answers as the op path does', () => {
    const args = ['eval', 'passkey', '--model', path.join(MODELS, 'ckvlab-passkey-9m/model.bin'), '--tokenizer', TOK, '--contexts', '256', '--depths', '0,1', '--keys', '1', '--methods', 'full,clusterkv,quest,oracle,streaming,infinigen', '--param', 'select=threshold,top-b', '--param', 'query=exact', '--budgets', '32', '--quiet'];
    const out = (b: string) => path.join(tmp('ckv-engine-pk-'), b);
    const [gDir, wDir] = [out('webgpu'), out('wasm')];
    const [gpu, wasm] = [clusterkv('webgpu', ...args, '--out', gDir), clusterkv('wasm', ...args, '--out', wDir)];
    expect(gpu.code, gpu.stderr).toBe(0);
    expect(wasm.code, wasm.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(gDir, 'manifest.json'), 'utf8'));
    // every method on the engine, infinigen with either select and the exact query (fit on the queries the shared prefill keeps)
    expect(manifest.runtime).toBe('WebGPU engine (f32 weights, f32 KV, wgsl attention; documents of one length decoded 8 at a time): full, clusterkv, quest, oracle, streaming, infinigen');
    const rows = (dir: string) => {
      const [head, ...lines] = readFileSync(path.join(dir, 'results.csv'), 'utf8').trim().split('\n');
      const cols = head.split(',');
      return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
    };
    const [g, w] = [rows(gDir), rows(wDir)];
    expect(g).toHaveLength(14);
    // rows by document and cell (the engine's cells and the op path's are written in different orders)
    const byKey = new Map(g.map((r) => [`${r.document} ${r.cell}`, r]));
    expect(byKey.size).toBe(w.length);
    for (const r of w) {
      const got = byKey.get(`${r.document} ${r.cell}`)!;
      expect(got, `${r.document} ${r.cell}`).toBeDefined();
      for (const c of ['generated', 'correct', 'digitsCorrect']) expect(got[c], `${r.document} ${r.cell} ${c}`).toBe(r[c]);
      for (const c of ['needleMassRecall', 'keyMassRecall', 'massRecall']) expect(Math.abs(Number(got[c]) - Number(r[c])), `${r.document} ${r.cell} ${c}`).toBeLessThan(1e-5);
    }
  }, 300_000);

  it('doctor --model: the fit of a checkpoint and its decode bytes bound', () => {
    const dir = tmp('ckv-engine-doctor-');
    writeRandomCheckpoint(dir, { shape: 'llama-3.2-1b', layers: 1, vocab: 300 });
    const run = clusterkv(undefined, 'doctor', '--model', dir, '--context', '4096', '--read-gbps', '1000', '--json');
    expect(run.code, run.stderr).toBe(0);
    const fit = JSON.parse(run.stdout).modelFit;
    expect(fit).toMatchObject({ context: 4096, batch: 1, dtypes: { weights: 'f16', kv: 'f16' }, fits: true, ceiling: { GBps: 1000, source: 'given: --read-gbps' } });
    // 1 layer: KV 2 x 8 heads x 4096 x 64 x 2 bytes
    expect(fit.footprint.kv).toBe(2 * 8 * 4096 * 64 * 2);
    expect(fit.dense.tokensPerSecond).toBeCloseTo(1000e9 / fit.dense.bytesPerStep, 3);
    const text = clusterkv(undefined, 'doctor', '--model', dir, '--context', '4096', '--read-gbps', '1000');
    expect(text.stdout).toMatch(/^fits: yes/m);
    expect(text.stdout).toMatch(/^ {2}dense {13}[\d.]+ GB\/step -> at most [\d.]+ tokens\/s/m);
  }, 120_000);

  it('e2e: Llama-3-8B fp32 at 32K x 8 on this device is one line naming the bytes and the limit', () => {
    const run = clusterkv('webgpu', 'e2e', '--contexts', '32768', '--batches', '8');
    expect(run.code).toBe(1);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('clusterkv:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^clusterkv: e2e context 32768, batch 8: f32 weights, f32 KV: one layer's key cache \(8 x 8 KV heads x \d+ positions x 128, f32\) is 1\.1 GB \(\d+ bytes\), more than the device's maxStorageBufferBindingSize/);
    expect(run.stderr).not.toMatch(/NaN|ZodError|invalid_type/);
  }, 120_000);
});
