import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { createMethod, resolveMethodNames } from '../../src/sim/methods/index.js';
import { replayTrace } from '../../src/sim/replay.js';
import { expandCells, runSweep, summarize } from '../../src/sim/sweep.js';
import { verifyStoredOutputs } from '../../src/sim/verify.js';
import { TraceReader } from '../../src/trace/index.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

let trace: string;

beforeAll(async () => {
  await useBackend('wasm');
  trace = await smallTrace();
});

describe('replay', () => {
  it('stored dense outputs of a synthetic trace match recomputed dense attention', async () => {
    const reader = await TraceReader.open(trace);
    const checks = await verifyStoredOutputs(reader);
    await reader.close();
    for (const c of checks) expect(c.maxRelError).toBeLessThan(1e-4);
  });

  it('full attention has recall 1 and no output error', async () => {
    const reader = await TraceReader.open(trace);
    const rows = await replayTrace(reader, [createMethod('full')]);
    await reader.close();
    expect(rows.length).toBe(2 * 6 * 4);
    for (const r of rows) {
      expect(r.massRecall).toBeCloseTo(1, 5);
      expect(r.outputRelError).toBeLessThan(1e-5);
      expect(r.density).toBe(1);
    }
  });

  it('oracle keeps at least the mass of clusterkv at the same budget, for every head and step', async () => {
    const reader = await TraceReader.open(trace);
    const budget = 96;
    const rows = await replayTrace(reader, [createMethod('oracle', { budget, denseLayers: 0 }), createMethod('clusterkv', { budget, denseLayers: 0, tokensPerCluster: 16 })]);
    await reader.close();
    const oracle = rows.filter((r) => r.method === 'oracle');
    const ckv = rows.filter((r) => r.method === 'clusterkv');
    expect(oracle.length).toBe(ckv.length);
    for (let i = 0; i < oracle.length; i++) {
      expect(oracle[i].tokensAttended).toBe(ckv[i].tokensAttended);
      expect(oracle[i].massRecall).toBeGreaterThanOrEqual(ckv[i].massRecall - 1e-6);
    }
    // clusters exist in the synthetic keys: clusterkv keeps far more than the budget's share of tokens
    const meanCkv = ckv.reduce((s, r) => s + r.massRecall, 0) / ckv.length;
    const meanDensity = ckv.reduce((s, r) => s + r.density, 0) / ckv.length;
    expect(meanCkv).toBeGreaterThan(meanDensity * 1.5);
  });

  it('leaks no tensors over a replay', async () => {
    const reader = await TraceReader.open(trace);
    const methods = [createMethod('full'), createMethod('oracle', { budget: 64 }), createMethod('clusterkv', { budget: 64, denseLayers: 0, tokensPerCluster: 16 })];
    await replayTrace(reader, methods, { layers: [0] });
    const before = tf.memory().numTensors;
    await replayTrace(reader, methods);
    expect(tf.memory().numTensors).toBe(before);
    await reader.close();
  });
});

describe('sweep', () => {
  // denseLayers 0: the small trace has 2 layers, both below the default of 2
  const spec = { methods: ['full', 'oracle', 'clusterkv'], budgets: [64, 128], clusters: [16, 32], seed: 3, grid: { denseLayers: [0] } };

  it('expands cells: budgets for budgeted methods, clusters only for clusterkv', () => {
    const cells = expandCells(spec);
    expect(cells.filter((c) => c.method === 'full')).toHaveLength(1);
    expect(cells.filter((c) => c.method === 'oracle')).toHaveLength(2);
    expect(cells.filter((c) => c.method === 'clusterkv')).toHaveLength(4);
    expect(cells.find((c) => c.method === 'clusterkv')!.params.seed).toBe(3);
    expect(new Set(cells.map((c) => c.id)).size).toBe(cells.length);
  });

  it('writes results.csv, results.arrow and a manifest, and a re-run skips finished cells', async () => {
    const dir = tempDir();
    const first = await runSweep(trace, spec, dir, { backend: 'wasm' });
    expect(first.computed).toBe(7 * 2);
    expect(first.skipped).toBe(0);
    const csv = readFileSync(path.join(dir, 'results.csv'), 'utf8');
    const header = csv.split('\n')[0].split(',');
    for (const col of ['method', 'clusters', 'budget', 'layer', 'head', 'step', 'massRecall', 'topkRecall', 'outputRelError', 'density', 'tokensLoaded']) expect(header).toContain(col);
    expect(first.table.numRows()).toBe(7 * 2 * 4 * 6);
    expect(existsSync(path.join(dir, 'results.arrow'))).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('complete');
    expect(manifest.trace.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.seed).toBe(3);
    expect(manifest.backend).toBe('wasm');
    expect(manifest.versions['@tensorflow/tfjs-core']).toBe('4.22.0');

    // lose one finished (cell, layer) file and leave a stray partial write: only that one is recomputed
    const cellDir = path.join(dir, 'cells', first.cells[3].id);
    rmSync(path.join(cellDir, 'layer-1.csv'));
    const again = await runSweep(trace, spec, dir, { backend: 'wasm' });
    expect(again.computed).toBe(1);
    expect(again.skipped).toBe(13);
    expect(readFileSync(path.join(dir, 'results.csv'), 'utf8')).toBe(csv);
    expect(readdirSync(cellDir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('gives identical results for the same seed', async () => {
    const a = await runSweep(trace, { ...spec, methods: ['clusterkv'] }, tempDir(), { backend: 'wasm' });
    const b = await runSweep(trace, { ...spec, methods: ['clusterkv'] }, tempDir(), { backend: 'wasm' });
    expect(a.table.objects()).toEqual(b.table.objects());
  });

  it('summarizes mean recall per method, clusters and budget', async () => {
    const result = await runSweep(trace, { methods: ['full', 'oracle'], budgets: [64, 256], grid: { denseLayers: [0] } }, tempDir(), { backend: 'wasm' });
    const rows = summarize(result.table).objects() as Record<string, number | string>[];
    expect(rows.map((r) => `${r.method}:${r.budget}`)).toEqual(['full:null', 'oracle:64', 'oracle:256']);
    const [, o64, o256] = rows;
    expect(o256.massRecall as number).toBeGreaterThan(o64.massRecall as number);
  });

  it('refuses a folder holding another trace, and bad parameters before writing anything', async () => {
    const dir = tempDir();
    await runSweep(trace, { methods: ['full'], budgets: [64] }, dir, { backend: 'wasm' });
    const other = await smallTrace({ seed: 99 });
    await expect(runSweep(other, { methods: ['full'], budgets: [64] }, dir, { backend: 'wasm' })).rejects.toThrow(/holds results of another trace/);
    const empty = tempDir();
    await expect(runSweep(trace, { methods: ['oracle'], budgets: [0] }, empty, { backend: 'wasm' })).rejects.toThrow(/budget/);
    await expect(runSweep(trace, { methods: ['clusterkv'], budgets: [64], clusters: [5000] }, empty, { backend: 'wasm' })).rejects.toThrow(/'clusters' \(5000\) is more than the \d+ prompt tokens/);
    await expect(runSweep(trace, { methods: ['nope'], budgets: [64] }, empty, { backend: 'wasm' })).rejects.toThrow(/unknown method 'nope'/);
    await expect(runSweep(trace, { methods: ['full'], budgets: [64], layers: [7] }, empty, { backend: 'wasm' })).rejects.toThrow(/layer 7 is out of range/);
    expect(readdirSync(empty)).toEqual([]);
    expect(() => resolveMethodNames(['all'])).not.toThrow();
  });
});
