/**
 * `clusterkv sweep --jobs N` (issue 13): local worker processes give the folder of a one-process sweep byte for
 * byte, several traces go to a folder each, an interrupted pool sweep resumes, and a failing unit is reported
 * with every other cell kept.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { readSweepFolder, readSweepManifest } from '../../src/sim/results-folder.js';
import { LocalPool } from '../../src/sim/sweep-local-pool.js';
import { computeUnit, UnitContext } from '../../src/sim/sweep-unit.js';
import { expandCells, runSweep, runSweeps, sweepFolders, SweepFailed, SweepInterrupted, type SweepSpec } from '../../src/sim/sweep.js';
import { TraceReader } from '../../src/trace/index.js';
import { VERSION } from '../../src/version.js';
import { folderFiles, spoilLayer } from '../helpers/sweep-files.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

const spec: SweepSpec = { methods: ['full', 'oracle', 'quest', 'clusterkv'], budgets: [64, 128], clusters: [16, 32], seed: 3, grid: { denseLayers: [0] } };
let trace: string;
let local: string;

beforeAll(async () => {
  await useBackend('wasm');
  trace = await smallTrace();
  local = tempDir();
  await runSweep(trace, spec, local, { backend: 'wasm' });
});

describe('sweep on local worker processes', () => {
  it('two worker processes write the one-process folder byte for byte, and say how they ran', async () => {
    const dir = tempDir();
    const result = await runSweep(trace, spec, dir, { backend: 'wasm', jobs: 2 });
    expect(result.computed).toBe(9 * 2);
    expect(folderFiles(dir)).toEqual(folderFiles(local));
    const manifest = readSweepFolder(dir).manifest!;
    expect(manifest.execution).toMatchObject({ mode: 'local', jobs: 2 });
    // two worker processes: together they computed every unit (5 families x 2 layers), each once
    const lanes = manifest.execution!.workers!;
    expect(lanes.length).toBeGreaterThanOrEqual(1);
    expect(lanes.length).toBeLessThanOrEqual(2);
    expect(lanes.reduce((n, w) => n + w.units, 0)).toBe(10);
    expect(readSweepFolder(local).manifest!.execution).toEqual({ mode: 'in-process' });
  });

  it('a worker process computes a unit exactly as this process does', async () => {
    const reader = await TraceReader.open(trace);
    const sha256 = await reader.sha256();
    await reader.close();
    const cells = expandCells(spec).filter((c) => c.method === 'clusterkv' && c.params.clusters === 32);
    const unit = { trace: { path: trace, sha256 }, layer: 1, cells, heads: [0, 1, 2, 3], steps: [0, 2, 5], version: VERSION };
    const here = new UnitContext({ backend: 'wasm', verify: false, version: VERSION });
    const want = await computeUnit(unit, here);
    await here.close();
    const pool = await LocalPool.start(1, { backend: 'wasm', verify: true });
    let steps = 0;
    try {
      const got = await pool.run(unit, () => steps++);
      expect(got.cells).toEqual(want.cells);
      expect(got.worker).not.toBe(want.worker);
      expect(steps).toBe(3);
      await expect(pool.run({ ...unit, trace: { path: trace, sha256: 'f'.repeat(64) } })).rejects.toThrow(/has sha256 .*, the sweep was given a file with ffffffffffff/);
    } finally {
      await pool.close();
    }
  });

  it('several traces: a folder each, each equal to its own sweep', async () => {
    const other = path.join(tempDir(), 'second.safetensors');
    copyFileSync(await smallTrace({ seed: 7 }), other);
    const out = tempDir();
    const results = await runSweeps([trace, other], spec, out, { backend: 'wasm', jobs: 2 });
    expect(results.map((r) => r.dir)).toEqual(sweepFolders([trace, other], out));
    expect(results.map((r) => path.basename(r.dir))).toEqual(['trace', 'second']);
    expect(folderFiles(results[0].dir)).toEqual(folderFiles(local));
    const alone = tempDir();
    await runSweep(other, spec, alone, { backend: 'wasm' });
    expect(folderFiles(results[1].dir)).toEqual(folderFiles(alone));
    expect(() => sweepFolders([trace, trace], out)).toThrow(/two traces are named trace/);
  });

  it('an interrupted pool sweep records it and a re-run finishes it, unchanged', async () => {
    const dir = tempDir();
    const controller = new AbortController();
    const run = runSweep(trace, spec, dir, {
      backend: 'wasm',
      jobs: 2,
      signal: controller.signal,
      onProgress: (done) => {
        if (done > 0) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(SweepInterrupted);
    const stopped = readSweepManifest(dir)!;
    expect(stopped.status).toBe('interrupted');
    expect(stopped.progress.done).toBeLessThan(18);
    const again = await runSweep(trace, spec, dir, { backend: 'wasm', jobs: 2 });
    expect(again.computed + again.skipped).toBe(18);
    expect(folderFiles(dir)).toEqual(folderFiles(local));
  });

  it('a failing unit is reported after every other unit ran: its cells stay unfinished, the rest are kept', async () => {
    const bad = await smallTrace();
    await spoilLayer(bad, 1);
    const dir = tempDir();
    const run = runSweep(bad, { ...spec, methods: ['oracle'] }, dir, { backend: 'wasm', jobs: 2 });
    await expect(run).rejects.toBeInstanceOf(SweepFailed);
    await expect(run).rejects.toThrow(/2 cell-layer\(s\) of layer\(s\) 1 failed: .*layers\.1\.k holds a non-finite value/);
    const folder = readSweepFolder(dir, { allowUnfinished: true });
    expect(folder.manifest!.status).toBe('failed');
    expect(folder.manifest!.progress).toEqual({ done: 2, total: 4 });
    expect([...new Set(folder.table.array('layer') as number[])]).toEqual([0]);
    expect(readFileSync(path.join(dir, 'results.csv'), 'utf8').split('\n')[0]).toContain('massRecall');
  });
});
