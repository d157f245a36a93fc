/**
 * The end-to-end benchmark's accounting and reports: bytes per step against hand counts, the sharing of
 * rows between the query heads of a KV head, the merge of processes (speed-ups taken inside each process),
 * the committed H200 report read through the schema, and `clusterkv e2e` run as a user would on the
 * software WebGPU adapter (a tiny shape), plus its one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepAttention } from '../../../src/model/engine/decode-engine.js';
import { dispatchKind, sharedRows } from '../../../src/model/engine/e2e-bench.js';
import { stepBytes } from '../../../src/model/engine/step-bytes.js';
import { mergeE2eRuns } from '../../../src/model/engine/e2e-merge.js';
import { e2eMergedSchema, type E2eRun } from '../../../src/model/engine/e2e-report.js';
import { readCheckedJson } from '../../../src/sim/bench/merge-runs.js';
import { LLAMA3_8B_SHAPE, kvBytes, parameterCounts, weightBytesPerStep } from '../../../src/model/engine/shape.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const root = path.join(__dirname, '..', '..', '..');

function clusterkv(env: Record<string, string>, ...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('e2e accounting', () => {
  it('Llama-3-8B shape: 7.1 G parameters (28.4 GB fp32) per token, 8.6 GB of KV per 32K-token sequence', () => {
    const c = parameterCounts(LLAMA3_8B_SHAPE);
    // per layer: q 4096^2, k and v 4096 x 1024, o 4096^2, three FFN matrices 4096 x 14336, two gains
    expect(c.perLayer).toBe(2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096);
    expect(weightBytesPerStep(LLAMA3_8B_SHAPE, 1)).toBe(4 * (32 * c.perLayer + 32000 * 4096 + 4096 + 4096));
    expect(kvBytes(LLAMA3_8B_SHAPE, 32768)).toBe(2 * 32 * 8 * 32768 * 128 * 4);
    expect(kvBytes(LLAMA3_8B_SHAPE, 32768) / 1e9).toBeCloseTo(8.59, 2);
  });

  it('bytes per step: dense reads every position once per KV head, ClusterKV each query head list in its sparse layers', () => {
    const s = LLAMA3_8B_SHAPE;
    const base: StepAttention = { position: 32768, attention: 'dense', sparseList: 0, selected: 0, clusters: 0, sparseLayers: 0, splits: { dense: 129, sparse: 0 }, dispatches: 0 };
    const dense = stepBytes(s, 8, base);
    expect(dense.kv).toBe(4 * 32 * 2 * 8 * 8 * 32769 * 128);
    expect(dense.selection).toBe(0);
    expect(dense.weights).toBe(weightBytesPerStep(s, 8));
    const sparse = stepBytes(s, 8, { ...base, attention: 'sparse', sparseList: 2101, selected: 2048, clusters: 410, sparseLayers: 30, splits: { dense: 129, sparse: 33 } });
    expect(sparse.kv).toBe(4 * (2 * 2 * 8 * 8 * 32769 * 128 + 30 * 2 * 8 * 32 * 2101 * 128));
    expect(sparse.selection).toBeGreaterThan(0);
    expect(sparse.total).toBe(sparse.weights + sparse.kv + sparse.selection + sparse.activations);
    // the activations are a rounding error beside weights and KV
    expect(sparse.activations / sparse.total).toBeLessThan(0.02);
  });

  it('shared rows: the union of the lists of the query heads of each KV head', () => {
    // 2 KV heads x 2 query heads, lists of 3: head pair 0 shares everything, pair 1 nothing
    const lists = Int32Array.from([1, 2, 3, 3, 2, 1, 4, 5, 6, 7, 8, 9]);
    expect(sharedRows(lists, 2, 2, 3)).toEqual({ perKvHead: 4.5, ofListRows: 0.75 });
    // empty slots (negative) are no rows: pair 0 reads 1, 2, 3, 2 (3 distinct of 4), pair 1 reads 4, 7, 8 (all distinct)
    const holes = Int32Array.from([1, 2, 3, -1, 2, -1, 4, -1, -1, 7, 8, -1]);
    expect(sharedRows(holes, 2, 2, 3)).toEqual({ perKvHead: 3, ofListRows: 6 / 7 });
  });

  it('merges processes: medians of per-process medians, speed-up inside each process', () => {
    // the dense modes carry an instrumented breakdown with kinds of dispatch (the merge takes each kind's median)
    const breakdownOf = (merge: number) => ({ steps: 2, categoryMs: { attention: 1 + merge }, kindMs: { 'attention partials': 1, 'attention merge': merge }, gapsMs: 0.1, spanMs: 2, dispatches: 10 });
    const mode = (attention: 'dense' | 'clusterkv', ms: number, speedup: number | null) => ({
      attention,
      budget: attention === 'dense' ? null : 1024,
      msPerToken: { median: ms, p10: ms * 0.9, p90: ms * 1.1, runs: 10 },
      spanMs: { median: ms, p10: ms, p90: ms, runs: 10 },
      wallMsPerToken: { median: ms, p10: ms, p90: ms, runs: 2 },
      bytes: { weights: 10e9, kv: attention === 'dense' ? 10e9 : 2e9, selection: 0, activations: 0, total: attention === 'dense' ? 20e9 : 12e9 },
      achievedGBps: 1,
      ofReadCeiling: null,
      breakdown: attention === 'dense' ? breakdownOf(ms / 10) : null,
      sparseList: null,
      speedup,
      boundSpeedup: speedup === null ? null : 20 / 12,
      ofBound: null,
    });
    const run = (denseMs: number, ckvMs: number): E2eRun =>
      ({
        kind: 'clusterkv-e2e-bench',
        created: '',
        backend: 'webgpu',
        adapter: null,
        versions: {},
        config: { shape: LLAMA3_8B_SHAPE, context: 32768, batch: 8, budgets: [1024], steps: 10, warmup: 2, rounds: 2, seed: 0, clusterkv: {}, plantedClusters: 410, gemv: {} },
        timing: '',
        readCeiling: { bytes: 1, ms: 1, GBps: 4000 },
        setup: { weightsMs: 0, promptFillMs: 0, weightBytes: 0, kvBytesPerLayer: 0 },
        promptClustering: { wallMs: 100, kmeansKernelMs: null, layers: 30, clusters: 410, tokens: 32752, iters: 20 },
        modes: [mode('dense', denseMs, null), mode('clusterkv', ckvMs, denseMs / ckvMs)],
        sampleTokens: {},
        logitsFinite: true,
      }) as E2eRun;
    const merged = e2eMergedSchema.parse(mergeE2eRuns([run(10, 5), run(12, 5), run(11, 4)]));
    const ckv = merged.rows.find((r) => r.attention === 'clusterkv')!;
    expect(ckv.processes).toBe(3);
    expect(ckv.msPerToken).toEqual({ median: 5, min: 4, max: 5 });
    expect(ckv.speedup).toEqual({ median: 2.4, min: 2, max: 2.75 });
    expect(ckv.boundSpeedup).toBeCloseTo(20 / 12, 10);
    expect(ckv.ofBound).toBeCloseTo(2.4 / (20 / 12), 10);
    expect(ckv.kindMs).toBeNull();
    const dense = merged.rows.find((r) => r.attention === 'dense')!;
    expect(dense.kindMs).toEqual({ 'attention partials': 1, 'attention merge': 1.1 });
    expect(dispatchKind('l12 attention merge')).toBe('attention merge');
    expect(dispatchKind('gemv output head')).toBe('gemv output head');
  });

  it('reads the committed H200 report through the schema', () => {
    const merged = readCheckedJson(path.join(root, 'bench/results/e2e-webgpu-h200-first-call.json'), e2eMergedSchema);
    expect(merged.runs.length).toBeGreaterThan(0);
    for (const r of merged.runs) expect(r.logitsFinite).toBe(true);
    expect(() => readCheckedJson(path.join(root, 'package.json'), e2eMergedSchema)).toThrow(/package\.json: kind/);
  });
});

const skip = await softwareWebgpu();

describe('clusterkv e2e', () => {
  it('rejects bad flags in one line, before loading a backend', () => {
    const bad = clusterkv({}, 'e2e', '--batches', '9');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^clusterkv: --batches: the engine decodes 1\.\.8 sequences together/);
    expect(clusterkv({}, 'e2e', '--gemv', '48,2,2').stderr.trim()).toMatch(/^clusterkv: --gemv: threadsPerRow must be a power of two/);
  });

  it.skipIf(!!skip)('runs a tiny model on the software adapter and writes a report the schema reads', () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'ckv-e2e-')), 'e2e.json');
    const run = clusterkv({ CLUSTERKV_WEBGPU_ADAPTER: 'software' }, 'e2e', '--shape', 'tiny', '--contexts', '200', '--batches', '2', '--budgets', '16', '--steps', '4', '--warmup', '1', '--breakdown-steps', '0', '--ceiling-mb', '4', '--tokens-per-cluster', '20', '--iters', '2', '--out', out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/\| 200 \| 2 \| 16 \|/);
    const merged = readCheckedJson(out, e2eMergedSchema);
    expect(merged.failures).toEqual([]);
    expect(merged.rows.map((r) => [r.attention, r.budget, r.processes])).toEqual([
      ['dense', null, 1],
      ['clusterkv', 16, 1],
    ]);
    const r = merged.runs[0];
    expect(r.promptClustering.clusters).toBe(10);
    expect(r.logitsFinite).toBe(true);
    const ckv = r.modes[1];
    // sinks 16 + 16 selected + the open window (warm-up and timed steps so far) + the current token
    expect(ckv.sparseList).toBeGreaterThan(32);
    expect(ckv.sharedRows!.ofListRows).toBeGreaterThan(0.5 - 1e-9);
    expect(ckv.sharedRows!.ofListRows).toBeLessThanOrEqual(1);
  });
});
