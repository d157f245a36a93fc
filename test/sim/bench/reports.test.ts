// Kernel-bench result files as tables (what notebook 04 and bench/README.md read from bench/results/): reading a
// folder, skipping other JSON and older formats, the rows behind the tables and figures, and merging fresh
// processes, checked against the reports' own numbers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelPath } from '../../../src/gpu/kernel-path.js';
import type { KernelBenchReport, KernelTiming } from '../../../src/sim/bench/kernel-bench.js';
import { benchContextRows, benchFile, benchKernelRows, benchLabel, benchPathRows, benchStageRows, benchSummaryRows, mergeBenchFiles, readBenchFiles, stageSum } from '../../../src/sim/bench/bench-file.js';
import { timingMs, type Timing } from '../../../src/sim/bench/timing.js';
import { tempDir } from '../../helpers/traces.js';

const round = (v: unknown) => Number(Number(v).toFixed(9));

function timing(ms: number, kernel?: number): Timing {
  const s = (m: number) => ({ median: m, p10: m * 0.9, p90: m * 1.1, runs: 5 });
  return { wallMs: s(ms), kernelMs: kernel === undefined ? undefined : s(kernel), bytes: 1e6, achievedGBps: 1e6 / ((kernel ?? ms) * 1e-3) / 1e9 };
}

/** A report where every time is scaled by `scale` (a second process of the same run). */
function report(context: number, clusters: number, denseMs: number, budgets: number[], kernel: boolean, paths: KernelPath[] = ['ops'], scale = 1): KernelBenchReport {
  const t = (ms: number) => timing(ms * scale, kernel ? (ms * scale) / 2 : undefined);
  const timings: KernelTiming[] = [];
  for (const path of paths) {
    const k = path === 'wgsl' ? 0.1 : 1;
    timings.push({ kernel: 'dense-attention', budget: null, path, timing: t(denseMs * k) });
    for (const budget of budgets) {
      timings.push({ kernel: 'clusterkv-step', budget, path, timing: t((1 + budget / 100) * k) });
      if (path === 'ops') {
        for (const [i, stage] of ['score-centroids', 'rank-clusters', 'ranked-tokens', 'gather-kv', 'attend-gathered'].entries()) timings.push({ kernel: stage, budget: i < 2 ? null : budget, path, timing: t(0.1 * (i + 1)) });
      } else {
        timings.push({ kernel: 'select-tokens', budget, path, timing: t(0.01) }, { kernel: 'sparse-attention', budget, path, timing: t(0.02) });
      }
    }
    timings.push({ kernel: 'kmeans', budget: null, path, timing: t(50 * k) });
  }
  return {
    config: { context, heads: 8, kvHeads: 2, headDim: 64, clusters, budgets, warmup: 1, runs: 5, kmeansIters: 20, kmeansRuns: 1, seed: 0 },
    peak: paths.includes('wgsl') ? { copyGBps: 4000, readGBps: 4500 } : undefined,
    timings,
    clusterSizes: { min: 1, median: 10, max: 40 },
  };
}

describe('bench result files', () => {
  it('reads every kernel-bench file of a folder by name and skips other JSON and older formats with a reason', () => {
    const dir = tempDir('ckv-bench-');
    const gpu = benchFile(report(4096, 52, 1, [256, 512], true, ['ops', 'wgsl']), 'webgpu', [{ context: 8192, clusters: 103, report: report(8192, 103, 2, [256, 512], true, ['ops', 'wgsl']) }], { device: 'nvidia-h200', description: 'NVIDIA: 580' });
    writeFileSync(path.join(dir, 'b-gpu.json'), JSON.stringify(gpu));
    writeFileSync(path.join(dir, 'a-wasm.json'), JSON.stringify(benchFile(report(2048, 26, 2, [128], false), 'wasm')));
    writeFileSync(path.join(dir, 'old.json'), JSON.stringify({ kind: 'clusterkv-kernel-bench', backend: 'webgpu', main: {}, contexts: [] }));
    writeFileSync(path.join(dir, 'parity.json'), JSON.stringify({ kind: 'clusterkv-parity' }));
    writeFileSync(path.join(dir, 'broken.json'), '{');
    writeFileSync(path.join(dir, 'notes.txt'), 'not json');
    const { benches, skipped } = readBenchFiles(dir);
    expect(benches.map((b) => [path.basename(b.file), b.label])).toEqual([['a-wasm.json', 'wasm (a-wasm.json)'], ['b-gpu.json', 'webgpu nvidia-h200']]);
    expect(skipped.map((s) => [path.basename(s.file), s.reason.replace(/\(.*\)/, '()')])).toEqual([
      ['broken.json', 'not JSON ()'],
      ['old.json', 'kernel benchmark of format version 1, expected 2'],
      ['parity.json', "not a kernel benchmark ()"],
    ]);
    expect(readBenchFiles(path.join(dir, 'missing'))).toEqual({ benches: [], skipped: [] });
  });

  const wasm = { file: 'live', label: 'wasm (live)', bench: benchFile(report(2048, 26, 2, [128, 256], false), 'wasm', [{ context: 1024, clusters: 13, report: report(1024, 13, 1, [128], false) }, { context: 2048, clusters: 26, report: report(2048, 26, 9, [128], false) }]) };
  const gpu = { file: 'gpu.json', label: 'webgpu H200', bench: benchFile(report(4096, 52, 1, [512], true, ['ops', 'wgsl']), 'webgpu') };

  it('times a kernel by its kernel median where measured, else its wall median', () => {
    expect(timingMs(timing(4, 1.5))).toBe(1.5);
    expect(timingMs(timing(4))).toBe(4);
  });

  it('summarises dense against the ClusterKV step per source, path and budget', () => {
    const rows = benchSummaryRows([gpu, wasm]);
    expect(rows.map((r) => [r.source, r.path, r.budget, round(r.denseMs), round(r.clusterkvMs), r.timing])).toEqual([
      ['webgpu H200', 'ops', 512, 0.5, 3.06, 'kernel time'],
      ['webgpu H200', 'wgsl', 512, 0.05, 0.306, 'kernel time'],
      ['wasm (live)', 'ops', 128, 2, 2.28, 'fenced wall time'],
      ['wasm (live)', 'ops', 256, 2, 3.56, 'fenced wall time'],
    ]);
    expect(rows[2].speedup).toBeCloseTo(2 / 2.28, 12);
    expect(rows[0].kmeansMs).toBe(25);
    expect(rows[1].clusterkvWallMs).toBeCloseTo(0.612, 12);
  });

  it('lists every kernel with its share of the measured ceilings', () => {
    const rows = benchKernelRows([gpu]);
    const step = rows.find((r) => r.kernel === 'clusterkv-step' && r.path === 'wgsl')!;
    expect(round(step.medianMs)).toBe(0.306);
    expect(step.pctOfRead).toBeCloseTo((100 * (1e6 / 0.306e-3 / 1e9)) / 4500, 9);
    expect(benchKernelRows([wasm]).every((r) => r.pctOfRead === null)).toBe(true);
  });

  it('puts the op chain and the WGSL kernel of every kernel timed on both paths side by side', () => {
    const rows = benchPathRows([gpu, wasm]);
    expect(rows.map((r) => [r.kernel, r.budget, round(r.opsMs), round(r.wgslMs), round(r.wgslSpeedup)])).toEqual([
      ['dense-attention', null, 0.5, 0.05, 10], ['clusterkv-step', 512, 3.06, 0.306, 10], ['kmeans', null, 25, 2.5, 10],
    ]);
  });

  it('lists each path\'s stages per budget and dense attention, one panel per source and path', () => {
    const rows = benchStageRows([gpu]);
    expect([...new Set(rows.map((r) => r.source))]).toEqual(['webgpu H200 · ops', 'webgpu H200 · wgsl']);
    expect(rows.filter((r) => r.source === 'webgpu H200 · wgsl').map((r) => [r.config, r.stage, round(r.medianMs)])).toEqual([
      ['dense', 'dense attention', 0.05], ['clusterkv B=512', 'select-tokens', 0.005], ['clusterkv B=512', 'sparse-attention', 0.01],
    ]);
    expect(round(stageSum(gpu.bench.main!, 'ops', 512))).toBe(round((0.1 + 0.2 + 0.3 + 0.4 + 0.5) / 2));
  });

  it('puts the context sweep and the main run on one context axis, the sweep winning a repeated context', () => {
    const rows = benchContextRows([wasm]);
    expect(rows.map((r) => [r.source, r.context, r.series, round(r.medianMs)])).toEqual([
      ['wasm (live) · ops', 1024, 'dense', 1], ['wasm (live) · ops', 1024, 'clusterkv B=128', 2.28],
      ['wasm (live) · ops', 2048, 'dense', 9], ['wasm (live) · ops', 2048, 'clusterkv B=128', 2.28], ['wasm (live) · ops', 2048, 'clusterkv B=256', 3.56],
    ]);
  });

  it('merges fresh processes: median over processes, each process median kept, sweep budgets joined', () => {
    const files = [1, 1.2, 3].map((scale) => benchFile(report(4096, 52, 1, [512], true, ['wgsl'], scale), 'webgpu', [{ context: 8192, clusters: 103, report: report(8192, 103, 2, [scale === 3 ? 256 : 512], true, ['wgsl'], scale) }]));
    const merged = mergeBenchFiles(files);
    expect(merged.processes).toBe(3);
    const dense = merged.main!.timings.find((t) => t.kernel === 'dense-attention')!.timing;
    expect(round(dense.kernelMs!.median)).toBe(0.06);
    expect(dense.processes!.kernelMs!.map(round)).toEqual([0.05, 0.06, 0.15]);
    expect(dense.processes!.wallMs.map(round)).toEqual([0.1, 0.12, 0.3]);
    expect(merged.contexts.map((c) => [c.context, c.report.config.budgets])).toEqual([[8192, [512, 256]]]);
    const step256 = merged.contexts[0].report.timings.find((t) => t.kernel === 'clusterkv-step' && t.budget === 256)!.timing;
    expect(step256.processes!.wallMs.length).toBe(1);
  });

  it('labels a file by its adapter, else by its name', () => {
    expect(benchLabel(benchFile(report(64, 4, 1, [8], false), 'webgpu', [], { vendor: 'nvidia', device: '' }), 'x.json')).toBe('webgpu nvidia');
    expect(benchLabel(benchFile(report(64, 4, 1, [8], false), 'cpu'), '/a/b/c.json')).toBe('cpu (c.json)');
  });
});
