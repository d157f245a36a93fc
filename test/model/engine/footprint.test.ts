/**
 * The engine's memory accounting (footprint.ts) and storage byte counts (shape.ts): exact byte counts per
 * dtype, the one-line refusals (a buffer past the binding limit, a total past the card's memory: Llama-3-8B
 * fp32 at 32K x 8 on an 80 GB card), and that f16 halves what fp32 needs so the same run fits; and `clusterkv
 * e2e` too large for the device (issue 22, item 15): one line naming the bytes and the limit before anything
 * is allocated, instead of a run that times work that never ran (checked through the real CLI on the
 * software adapter, whose binding limit is 128 MiB).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFootprint, engineFootprint, footprintProblem } from '../../../src/model/engine/footprint.js';
import { LLAMA3_8B_SHAPE, kvBytes, parameterCounts, weightBytesPerStep, weightStorageBytes } from '../../../src/model/engine/shape.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const root = path.join(__dirname, '..', '..', '..');

const H100 = { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 32, memory: { bytes: 81559 * 2 ** 20, source: 'nvidia-smi memory.total' } };

describe('engine footprint', () => {
  it('counts f16 matrices at 2 bytes, gains at 4, and a tied head once', () => {
    const s = LLAMA3_8B_SHAPE;
    const c = parameterCounts(s);
    const gains = (2 * s.layers + 1) * s.dim;
    expect(weightStorageBytes(s, 'f32')).toBe(4 * (c.total));
    expect(weightStorageBytes(s, 'f16')).toBe(2 * (c.total - gains) + 4 * gains);
    expect(weightStorageBytes(s, 'f16', true)).toBe(weightStorageBytes(s, 'f16') - 2 * c.output);
    expect(weightBytesPerStep(s, 1, 'f16')).toBe(2 * (s.layers * (c.perLayer - 2 * s.dim) + c.output + s.dim) + 4 * gains);
    expect(kvBytes(s, 32768, 'f16')).toBe(kvBytes(s, 32768) / 2);
  });

  it('Llama-3-8B fp32 at 32K x 8 does not fit an 80 GB card: one line naming the bytes and the memory; f16 weights and KV fit', () => {
    const request = { shape: LLAMA3_8B_SHAPE, weights: 'f32' as const, kv: 'f32' as const, batch: 8, capacity: 32768 };
    const fp = engineFootprint(request);
    expect(fp.kv).toBe(8 * kvBytes(LLAMA3_8B_SHAPE, 32768));
    expect(fp.total).toBe(fp.weights + fp.kv + fp.activations);
    expect(fp.selection).toBe(0);
    const problem = footprintProblem(fp, H100);
    expect(problem).toMatch(/^needs 97\.\d GB of GPU memory \(f32 weights 29\.0 GB \+ f32 K\/V caches 68\.7 GB \+ activations [\d.]+ MB\), more than the card's 85\.5 GB \(nvidia-smi memory\.total\)$/);
    expect(problem!.split('\n')).toHaveLength(1);
    expect(() => checkFootprint(request, 'context 32768, batch 8', H100)).toThrow(/^context 32768, batch 8: needs 97/);
    expect(footprintProblem(engineFootprint({ ...request, weights: 'f16', kv: 'f16' }), H100)).toBeUndefined();
  });

  it('fits where it fits: fp32 one sequence at 32K, and 8 at 32K on a 141 GB H200; without a known memory only the buffer limits count', () => {
    const request = { shape: LLAMA3_8B_SHAPE, weights: 'f32' as const, kv: 'f32' as const, batch: 8, capacity: 32868 };
    expect(footprintProblem(engineFootprint({ ...request, batch: 1 }), H100)).toBeUndefined();
    expect(footprintProblem(engineFootprint(request), { ...H100, memory: { bytes: 143771 * 2 ** 20, source: 'nvidia-smi memory.total' } })).toBeUndefined();
    // the run's out-of-memory error scope (e2e-bench.ts) does the rest
    expect(footprintProblem(engineFootprint(request), { ...H100, memory: undefined })).toBeUndefined();
  });

  it("counts a sparse method's selection: its token lists, each sparse layer's state, the shared scratch once and the largest rebuild once", () => {
    const s = LLAMA3_8B_SHAPE;
    const [B, T, budget] = [8, 32768, 1024];
    const base = { shape: s, weights: 'f16' as const, kv: 'f16' as const, batch: B, capacity: T };
    const dense = engineFootprint(base);
    const of = (name: string, params: Record<string, string | number> = {}) => {
      const engine = createMethod(name, { budget, ...params }).engine;
      if (engine?.kind !== 'batched') throw new Error(name);
      return engineFootprint({ ...base, selection: { name, engine, largestBudget: budget } });
    };
    // the selected positions [B H, budget] and the token list [B H, sinks + budget + window + 1] (streaming's defaults)
    const streaming = createMethod('streaming', { budget }).engine;
    const { sinks, window } = streaming?.kind === 'batched' ? streaming.budget : { sinks: NaN, window: NaN };
    const lists = 4 * B * s.heads * (budget + sinks + budget + window + 1);
    expect(of('streaming').selection).toBe(lists);
    expect(of('streaming').total).toBe(dense.total + lists);
    // H2O: per layer the accumulated attention and alive mask [B G, T], shared the step's rows [B G, 2T]
    const h2o = of('h2o', { denseLayers: 0 });
    expect(h2o.selection - lists).toBe(s.layers * 2 * B * s.kvHeads * T * 4 + 2 * B * s.kvHeads * T * 4);
    expect(h2o.parts).toMatch(/ \+ h2o selection 5\d\d\.\d MB$/);
    // dense layers hold no selection state
    const h2oSparse = engineFootprint({ ...base, selection: { name: 'h2o', engine: createMethod('h2o', { budget, denseLayers: 2 }).engine as never, largestBudget: budget } });
    expect(h2o.selection - h2oSparse.selection).toBe(2 * 2 * B * s.kvHeads * T * 4);
  });

  it('a method whose selection does not fit is refused where dense attention fits: Llama-3-8B f16 at 32K x 8 on an 80 GB card with Quest', () => {
    const base = { shape: LLAMA3_8B_SHAPE, weights: 'f16' as const, kv: 'f16' as const, batch: 8, capacity: 32768 };
    expect(footprintProblem(engineFootprint(base), H100)).toBeUndefined();
    const quest = createMethod('quest', { budget: 1024 }).engine;
    if (quest?.kind !== 'batched') throw new Error('quest');
    const problem = footprintProblem(engineFootprint({ ...base, selection: { name: 'quest', engine: quest, largestBudget: 1024 } }), H100);
    expect(problem).toMatch(/^needs 8\d\.\d GB of GPU memory \(.* \+ quest selection 3\d\.\d GB\), more than the card's 85\.5 GB/);
  });

  it('names the largest buffer when it passes the binding limit', () => {
    const fp = engineFootprint({ shape: LLAMA3_8B_SHAPE, weights: 'f32', kv: 'f32', batch: 8, capacity: 32768 });
    expect(fp.largest.bytes).toBe(8 * 8 * 32768 * 128 * 4);
    expect(footprintProblem(fp, { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 27 })).toBe(
      "one layer's key cache (8 x 8 KV heads x 32768 positions x 128, f32) is 1.1 GB (1073741824 bytes), more than the device's maxStorageBufferBindingSize of 134.2 MB (134217728 bytes)",
    );
  });
});

const skip = await softwareWebgpu();

describe('clusterkv e2e too large for the device', () => {
  it.skipIf(!!skip)('fails at once in one line naming the bytes and the limit (software adapter: 128 MiB per binding)', () => {
    const t0 = Date.now();
    const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'e2e', '--shape', 'tiny', '--contexts', '140000', '--batches', '8', '--budgets', '64', '--steps', '2', '--rounds', '1', '--warmup', '0', '--breakdown-steps', '0', '--ceiling-mb', '1'], {
      cwd: root, encoding: 'utf8', env: { ...process.env, CLUSTERKV_WEBGPU_ADAPTER: 'software' }, timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(1);
    const last = run.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^clusterkv: e2e context 140000, batch 8: f32 weights, f32 KV: one layer's key cache \(8 x 2 KV heads x 140\d+ positions x 16, f32\) is 143\.\d MB \(\d+ bytes\), more than the device's maxStorageBufferBindingSize of 134\.2 MB \(134217728 bytes\)$/);
    expect(run.stderr).not.toMatch(/ZodError|NaN|\n\s+at /);
    expect(run.stdout).toBe('');
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 120_000);
});
