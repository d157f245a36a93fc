/**
 * A sweep folder's identity and lifetime (issue 12, items 1-4 and 7): runs with another selection are
 * refused, smaller grids keep earlier cells, all-dense replays stop with a message naming denseLayers, the
 * summary keeps parameter combinations apart, and an interrupted sweep says so and resumes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { recordUnitAccesses, simulateCache, summarizeCache } from '../../src/sim/cachesim.js';
import { checkSparseLayers } from '../../src/sim/sparse-layers.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { readSweepFolder } from '../../src/sim/results-folder.js';
import { TraceReader } from '../../src/trace/index.js';
import { runSweep, summarize, SweepInterrupted } from '../../src/sim/sweep.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

let trace: string;
const sparse = { denseLayers: [0] };

beforeAll(async () => {
  await useBackend('wasm');
  trace = await smallTrace();
});

describe('sweep folder', () => {
  it('refuses a run that reports other heads or steps than the folder holds, in both orders', async () => {
    const dir = tempDir();
    const subset = await runSweep(trace, { methods: ['oracle'], budgets: [64], heads: [0], steps: [0], grid: sparse }, dir, { backend: 'wasm' });
    expect(subset.table.numRows()).toBe(2); // 2 layers x 1 head x 1 step
    await expect(runSweep(trace, { methods: ['oracle'], budgets: [64], grid: sparse }, dir, { backend: 'wasm' })).rejects.toThrow(/holds rows of heads 0, steps 0; this run reports heads all 4, steps all 6/);
    const whole = tempDir();
    await runSweep(trace, { methods: ['oracle'], budgets: [64], grid: sparse }, whole, { backend: 'wasm' });
    await expect(runSweep(trace, { methods: ['oracle'], budgets: [64], heads: [0], steps: [0], grid: sparse }, whole, { backend: 'wasm' })).rejects.toThrow(/holds rows of heads all 4, steps all 6; this run reports heads 0, steps 0/);
    // the refused runs changed nothing
    expect(readSweepFolder(dir).table.numRows()).toBe(2);
  });

  it('a smaller grid into a folder keeps the earlier cells in results and manifest, and says so', async () => {
    const dir = tempDir();
    const big = await runSweep(trace, { methods: ['oracle'], budgets: [64, 128], grid: sparse }, dir, { backend: 'wasm' });
    const small = await runSweep(trace, { methods: ['oracle'], budgets: [64], grid: sparse }, dir, { backend: 'wasm' });
    expect(small.computed).toBe(0);
    expect(small.cells).toHaveLength(1);
    expect(small.folderCells).toHaveLength(2);
    expect(small.table.numRows()).toBe(big.table.numRows());
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.cells).toHaveLength(2);
    expect(manifest.status).toBe('complete');
    expect(manifest.progress).toEqual({ done: 4, total: 4 });
  });

  it('stops a sweep whose every replayed layer is dense, naming denseLayers and the way out', async () => {
    const dir = tempDir();
    await expect(runSweep(trace, { methods: ['full', 'oracle'], budgets: [64] }, dir, { backend: 'wasm' })).rejects.toThrow(
      /every layer replayed \(0, 1\) is below denseLayers = 2.*--param denseLayers=0/,
    );
  });

  it('cachesim of a trace whose every layer is dense stops naming denseLayers (it used to crash in arquero)', async () => {
    const reader = await TraceReader.open(trace);
    try {
      const dense = await recordUnitAccesses(reader, [createMethod('quest', { budget: 64 })]);
      expect(dense).toEqual([]);
      expect(() => summarizeCache(simulateCache(dense, [{ kind: 'lru', value: 8 }], { headDim: 32 }))).toThrow(/nothing was simulated.*denseLayers.*--param denseLayers=0/);
      expect(() => checkSparseLayers([createMethod('quest', { budget: 64 })], [0, 1])).toThrow(/below denseLayers = 2.*--param denseLayers=0/);
      expect((await recordUnitAccesses(reader, [createMethod('quest', { budget: 64, denseLayers: 0 })])).length).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
  });

  it('summarizes each parameter combination apart', async () => {
    const result = await runSweep(trace, { methods: ['clusterkv'], budgets: [64], clusters: [8], grid: { ...sparse, iters: [1, 4] } }, tempDir(), { backend: 'wasm' });
    const rows = summarize(result.table).objects() as Record<string, unknown>[];
    expect(rows.map((r) => r.iters)).toEqual([1, 4]);
    expect(rows.every((r) => r.rows === 2 * 4 * 6)).toBe(true);
  });

  it('records an interrupted sweep, refuses to read it as finished, and finishes it on a re-run', async () => {
    const dir = tempDir();
    const controller = new AbortController();
    const spec = { methods: ['oracle', 'streaming'], budgets: [64, 128], grid: sparse };
    let steps = 0;
    const run = runSweep(trace, spec, dir, {
      backend: 'wasm',
      signal: controller.signal,
      onProgress: () => {
        if (++steps === 3) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(SweepInterrupted);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.progress.total).toBe(4 * 2);
    expect(() => readSweepFolder(dir)).toThrow(/sweep not finished \(interrupted: \d of 8 cell-layers done\)/);
    const again = await runSweep(trace, spec, dir, { backend: 'wasm' });
    expect(again.computed + again.skipped).toBe(8);
    expect(readSweepFolder(dir).manifest?.status).toBe('complete');
  });
});
