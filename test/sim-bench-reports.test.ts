// Kernel-bench result files as tables (what notebook 04 reads from bench/results/): reading a folder, skipping
// other JSON, and the rows behind the latency figures, checked against the report's own numbers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelBenchReport, Timing } from '../src/sim/bench/kernel-bench.js';
import { benchContextRows, benchFile, benchLabel, benchStageRows, benchSummaryRows, readBenchFiles } from '../src/sim/bench/bench-file.js';
import { timingMs } from '../src/sim/bench/timing.js';
import { tempDir } from './helpers/traces.js';

const round = (v: unknown) => Number(Number(v).toFixed(9));

function timing(ms: number, kernel?: number): Timing {
  const s = (m: number) => ({ median: m, p10: m * 0.9, p90: m * 1.1, runs: 5 });
  return { wallMs: s(ms), kernelMs: kernel === undefined ? undefined : s(kernel), bytes: 1e6, achievedGBps: 1 };
}

function report(context: number, clusters: number, denseMs: number, budgets: number[], kernel: boolean): KernelBenchReport {
  const t = (ms: number) => timing(ms, kernel ? ms / 2 : undefined);
  return {
    config: { context, heads: 8, kvHeads: 2, headDim: 64, clusters, budgets, warmup: 1, runs: 5, kmeansIters: 20, kmeansRuns: 1, seed: 0 } as KernelBenchReport['config'],
    dense: t(denseMs),
    budgets: budgets.map((budget) => ({
      budget,
      stages: { score: t(0.1), rank: t(0.2), index: t(0.3), gather: t(budget / 100), attend: t(0.4) },
      clusterkvStep: t(1 + budget / 100),
      speedup: denseMs / (1 + budget / 100),
      pairedSpeedup: t(1).wallMs,
      pairedDenseMs: t(denseMs).wallMs,
      pairedStepMs: t(1 + budget / 100).wallMs,
    })),
    kmeans: { iters: 20, timing: t(50) },
    clusterSizes: { min: 1, median: 10, max: 40 },
  };
}

describe('bench result files', () => {
  it('reads every kernel-bench report of a folder by name and skips other JSON with a reason', () => {
    const dir = tempDir('ckv-bench-');
    const gpu = { ...benchFile(report(4096, 52, 1, [256, 512], true), 'webgpu', [{ context: 8192, clusters: 103, report: report(8192, 103, 2, [256, 512], true) }], { device: 'nvidia-h200', description: 'NVIDIA: 580' }) };
    writeFileSync(path.join(dir, 'b-gpu.json'), JSON.stringify(gpu));
    writeFileSync(path.join(dir, 'a-wasm.json'), JSON.stringify(benchFile(report(2048, 26, 2, [128], false), 'wasm')));
    writeFileSync(path.join(dir, 'parity.json'), JSON.stringify({ kind: 'clusterkv-parity' }));
    writeFileSync(path.join(dir, 'broken.json'), '{');
    writeFileSync(path.join(dir, 'notes.txt'), 'not json');
    const { benches, skipped } = readBenchFiles(dir);
    expect(benches.map((b) => [path.basename(b.file), b.label])).toEqual([['a-wasm.json', 'wasm (a-wasm.json)'], ['b-gpu.json', 'webgpu nvidia-h200']]);
    expect(skipped.map((s) => path.basename(s.file))).toEqual(['broken.json', 'parity.json']);
    expect(skipped[0].reason).toMatch(/not JSON/);
    expect(skipped[1].reason).toBe("not a kernel benchmark (kind 'clusterkv-parity')");
    expect(readBenchFiles(path.join(dir, 'missing'))).toEqual({ benches: [], skipped: [] });
  });

  const wasm = { file: 'live', label: 'wasm (live)', bench: benchFile(report(2048, 26, 2, [128, 256], false), 'wasm', [{ context: 1024, clusters: 13, report: report(1024, 13, 1, [128], false) }, { context: 2048, clusters: 26, report: report(2048, 26, 9, [128], false) }]) };
  const gpu = { file: 'gpu.json', label: 'webgpu H200', bench: benchFile(report(4096, 52, 1, [512], true), 'webgpu') };

  it('times a stage by its kernel median where measured, else its wall median', () => {
    expect(timingMs(timing(4, 1.5))).toBe(1.5);
    expect(timingMs(timing(4))).toBe(4);
  });

  it('summarises dense against the ClusterKV step per source and budget', () => {
    const rows = benchSummaryRows([gpu, wasm]);
    expect(rows.map((r) => [r.source, r.budget, r.denseMs, round(r.clusterkvMs), r.timing])).toEqual([
      ['webgpu H200', 512, 0.5, 3.06, 'tf.time kernelMs'],
      ['wasm (live)', 128, 2, 2.28, 'fenced wall time'],
      ['wasm (live)', 256, 2, 3.56, 'fenced wall time'],
    ]);
    expect(rows[1].speedup).toBeCloseTo(2 / 2.28, 12);
    expect(rows[0].kmeansMs).toBe(25);
  });

  it('lists the five stages per budget and dense attention, per source', () => {
    const rows = benchStageRows([wasm]);
    expect(rows.filter((r) => r.config === 'dense')).toEqual([{ source: 'wasm (live)', config: 'dense', stage: 'dense attention', medianMs: 2 }]);
    expect(rows.filter((r) => r.config === 'clusterkv B=256').map((r) => [r.stage, round(r.medianMs)])).toEqual([['score', 0.1], ['rank', 0.2], ['index', 0.3], ['gather', 2.56], ['attend', 0.4]]);
  });

  it('puts the context sweep and the main run on one context axis, the sweep winning a repeated context', () => {
    const rows = benchContextRows([wasm]);
    expect(rows.map((r) => [r.context, r.series, round(r.medianMs)])).toEqual([
      [1024, 'dense', 1], [1024, 'clusterkv B=128', 2.28],
      [2048, 'dense', 9], [2048, 'clusterkv B=128', 2.28], [2048, 'clusterkv B=256', 3.56],
    ]);
  });

  it('labels a file by its adapter, else by its name', () => {
    expect(benchLabel(benchFile(report(64, 4, 1, [8], false), 'webgpu', [], { vendor: 'nvidia', device: '' }), 'x.json')).toBe('webgpu nvidia');
    expect(benchLabel(benchFile(report(64, 4, 1, [8], false), 'cpu'), '/a/b/c.json')).toBe('cpu (c.json)');
  });
});
