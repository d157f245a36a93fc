// The one merge of benchmark runs (src/sim/bench/merge-runs.ts) over every kind of run file (bench/run-kinds.ts):
// the statistics over processes (median of odd and even counts, spread), schema checks that name the file and
// the field, and each kind's merged figures against hand-computed medians (e2e against the committed H200 report
// merged again from the runs it keeps). A mutation check runs the same merges with the median replaced by the
// max and by the upper middle value (the rule two of the three earlier medians had for even counts) and expects
// every figure, or every even-count figure, to come out different: the pinned figures would fail.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { medianSpread, mergeRunFiles, overProcesses, readRunFile, spreadText } from '../../../src/sim/bench/merge-runs.js';
import { RUN_KINDS } from '../../../bench/run-kinds.js';
import { root } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/traces.js';

const dir = tempDir('ckv-merge-');
const write = (name: string, value: unknown) => {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
};

const q = (m: number) => ({ median: m, p10: m * 0.9, p90: m * 1.1, runs: 5 });
/** One process's `clusterkv bench` file with dense attention at `ms` (kernel time). */
const kernelRun = (ms: number) => ({
  kind: 'clusterkv-kernel-bench', version: 2, backend: 'webgpu', adapter: { device: 'nvidia-h200' }, processes: 1, timing: 'medianMs = GPU time',
  main: {
    config: { context: 4096, heads: 8, kvHeads: 2, headDim: 64, clusters: 52, budgets: [512], warmup: 1, runs: 5, kmeansIters: 20, kmeansRuns: 1, seed: 0 },
    peak: { copyGBps: 3700, readGBps: 3900 + ms },
    timings: [{ kernel: 'dense-attention', budget: null, path: 'wgsl', timing: { wallMs: q(2 * ms), kernelMs: q(ms), loopWallMs: 3 * ms, bytes: 1e6, achievedGBps: 1e6 / (ms * 1e-3) / 1e9 } }],
    clusterSizes: { min: 1, median: 10, max: 40 },
  },
  contexts: [],
});
const torchRun = (dense: number, wall: number) => ({
  kind: 'clusterkv-torch-reference', device: 'NVIDIA H200', torch: '2.11.0', dtype: 'float32', tf32Matmul: false, shape: { H: 32, G: 8, d: 128 },
  rows: [{ context: 4096, clusters: 52, denseBytes: 1, denseFp32Ms: { ...q(dense), runs: 100 }, sdpaFp16Ms: { ...q(dense / 5), runs: 100 }, clusterkvStep2048Ms: { ...q(0.6), runs: 100 }, clusterkvStep2048WallMs: wall }],
  kmeans: { iters: 20, clusters: 400, kvHeads: 8, tokens: 32768, ms: { ...q(33), runs: 10 } },
});
const tuneRun = (ms: number) => ({ kind: 'clusterkv-kernel-tuning', set: 'attention', heatMs: 100, toggles: '', rows: [{ kernel: 'dense-attention', context: 8192, clusters: 103, knob: 'attention', value: 'defaults', ms }] });
const gemvRun = (us: number, ceiling: number) => ({ kind: 'clusterkv-e2e-gemv-tuning', adapter: null, toggles: '', readCeilingGBps: ceiling, rows: [{ batch: 1, shape: 'qkv', split: '64,4,2', asked: '64,4,2', medianUs: us, GBps: 1e8 / us / 1e3, ofCeiling: 1e8 / us / 1e3 / ceiling }] });
const modelRun = (decode: number) => ({
  kind: 'clusterkv-model-check', backend: 'webgpu', adapter: null, model: 'm', context: 16, steps: 2, tensorsLeft: 0, versions: {},
  runs: [{ attention: 'dense', ids: [1, 2], gaps: [0.5, 0.2], prefillSeconds: 1, decodeSeconds: 1 / decode, prefillTokensPerSecond: 16, decodeTokensPerSecond: decode }],
});

// three processes whose values have median != mean != max, and four (an even count) for the kernel bench
const files = {
  kernels: [1, 1.2, 3].map((ms, i) => write(`kernels-${i}.json`, kernelRun(ms))),
  kernelsEven: [1, 1.2, 3, 5].map((ms, i) => write(`kernels-even-${i}.json`, kernelRun(ms))),
  torch: [[0.16, 0.5], [0.2, 0.9], [0.15, 0.6]].map(([d, w], i) => write(`torch-${i}.json`, torchRun(d, w))),
  tune: [0.05, 0.06, 0.2].map((ms, i) => write(`tune-${i}.json`, tuneRun(ms))),
  gemv: [[30, 4400], [32, 4435], [50, 4000]].map(([us, c], i) => write(`gemv-${i}.json`, gemvRun(us, c))),
  model: [15.5, 12, 18.7].map((t, i) => write(`model-${i}.json`, modelRun(t))),
};

const committedE2e = path.join(root, 'bench/results/e2e-webgpu-h200.json');

type Mods = { mergeRunFiles: typeof mergeRunFiles; RUN_KINDS: typeof RUN_KINDS; e2eRuns: string[] };

/** Every kind's merged figures by the given modules (the real ones, or ones with a mutated median). */
function mergedFigures(m: Mods): Record<string, number> {
  const merge = (fs: string[]) => m.mergeRunFiles(fs, m.RUN_KINDS).merged as never;
  type K = { main: { timings: { timing: { kernelMs: { median: number }; loopWallMs: number } }[]; peak: { readGBps: number } } };
  const kernels = merge(files.kernels) as K;
  const even = merge(files.kernelsEven) as K;
  const torch = merge(files.torch) as { rows: { denseFp32Ms: { median: number }; clusterkvStep2048WallMs: number }[] };
  const tune = merge(files.tune) as { rows: { median: number }[] };
  const gemv = merge(files.gemv) as { readCeilingGBps: { median: number }; rows: { medianUs: { median: number } }[] };
  const model = merge(files.model) as { rows: { decodeTokensPerSecond: { median: number } }[] };
  const e2e = merge(m.e2eRuns) as { rows: { context: number; batch: number; budget: number | null; msPerToken: { median: number }; speedup: { median: number } | null }[]; readCeilingGBps: { median: number } };
  const ckv = e2e.rows.find((r) => r.context === 32768 && r.batch === 8 && r.budget === 2048)!;
  return {
    kernelMs: kernels.main.timings[0].timing.kernelMs.median,
    loopMs: kernels.main.timings[0].timing.loopWallMs,
    readCeiling: kernels.main.peak.readGBps,
    evenKernelMs: even.main.timings[0].timing.kernelMs.median,
    evenReadCeiling: even.main.peak.readGBps,
    torchDense: torch.rows[0].denseFp32Ms.median,
    torchWall: torch.rows[0].clusterkvStep2048WallMs,
    tuneMs: tune.rows[0].median,
    gemvUs: gemv.rows[0].medianUs.median,
    gemvCeiling: gemv.readCeilingGBps.median,
    modelDecode: model.rows[0].decodeTokensPerSecond.median,
    e2eMs: ckv.msPerToken.median,
    e2eSpeedup: ckv.speedup!.median,
    e2eCeilingEven: e2e.readCeilingGBps.median,
  };
}

/** The committed e2e report's runs, one process per file (as the suite's processes write them). */
async function e2eRunFiles(): Promise<string[]> {
  const { mergeE2eRuns } = await import('../../../src/model/engine/e2e-merge.js');
  const { readCheckedJson } = await import('../../../src/sim/bench/merge-runs.js');
  const { e2eMergedSchema } = await import('../../../src/model/engine/e2e-report.js');
  const committed = readCheckedJson(committedE2e, e2eMergedSchema);
  return committed.runs.map((run, i) => write(`e2e-${i}.json`, mergeE2eRuns([run], [], 'one process')));
}

/** The figures the real merge must give: hand-computed medians; e2e: the committed report's own rows. */
async function expectedFigures(): Promise<Record<string, number>> {
  const { readCheckedJson } = await import('../../../src/sim/bench/merge-runs.js');
  const { e2eMergedSchema } = await import('../../../src/model/engine/e2e-report.js');
  const committed = readCheckedJson(committedE2e, e2eMergedSchema);
  const row = committed.rows.find((r) => r.context === 32768 && r.batch === 8 && r.budget === 2048)!;
  return {
    kernelMs: 1.2, loopMs: 3.6, readCeiling: 3901.2, evenKernelMs: 2.1, evenReadCeiling: 3902.1,
    torchDense: 0.16, torchWall: 0.6, tuneMs: 0.06, gemvUs: 32, gemvCeiling: 4400, modelDecode: 15.5,
    e2eMs: row.msPerToken.median, e2eSpeedup: row.speedup!.median, e2eCeilingEven: committed.readCeilingGBps!.median,
  };
}

const close = (figures: Record<string, number>) => Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(v.toPrecision(12))]));

describe('statistics over processes', () => {
  it('takes the median of odd and even counts and keeps every process value', () => {
    expect(overProcesses([1, 1.2, 3])).toEqual({ median: 1.2, processes: [1, 1.2, 3] });
    expect(overProcesses([3, 1, 5, 1.2])).toEqual({ median: 2.1, processes: [3, 1, 5, 1.2] });
    expect(overProcesses([7])).toEqual({ median: 7, processes: [7] });
  });

  it('gives the spread as min and max, and as text', () => {
    expect(medianSpread([4, 9, 5])).toEqual({ median: 5, min: 4, max: 9 });
    expect(medianSpread([4, 9, 5, 10])).toEqual({ median: 7, min: 4, max: 10 });
    expect(spreadText([0.0405, 0.0403, 0.04051], 4)).toBe('0.0403–0.0405');
  });
});

describe('the one merge', () => {
  it('merges every kind to the medians over processes (e2e: the committed H200 report again from its runs)', async () => {
    const e2eRuns = await e2eRunFiles();
    expect(close(mergedFigures({ mergeRunFiles, RUN_KINDS, e2eRuns }))).toEqual(close(await expectedFigures()));
  });

  it('keeps what a kind records beside its medians: each process value, counts, failures', async () => {
    const kernels = mergeRunFiles(files.kernels, RUN_KINDS).merged as { processes: number; timing: string; main: { timings: { timing: { processes: { kernelMs: number[] }; kernelMs: { runs: number } } }[] } };
    expect(kernels.processes).toBe(3);
    expect(kernels.timing).toMatch(/merged from fresh processes/);
    expect(kernels.main.timings[0].timing.processes.kernelMs).toEqual([1, 1.2, 3]);
    expect(kernels.main.timings[0].timing.kernelMs.runs).toBe(15);
    const e2e = mergeRunFiles(await e2eRunFiles(), RUN_KINDS, [{ file: 'e2e-32768-8-3', reason: 'timed out after 100 s' }]);
    expect((e2e.merged as { failures: unknown[] }).failures).toEqual([{ file: 'e2e-32768-8-3', reason: 'timed out after 100 s' }]);
    expect(e2e.summary).toMatch(/1 failed: e2e-32768-8-3 \(timed out after 100 s\)/);
    expect(mergeRunFiles(files.tune, RUN_KINDS).summary).toMatch(/\| dense-attention \| defaults \| 0\.0600 \(0\.0500–0\.2000\) \|/);
  });

  it('refuses a file its schema does not take, naming the file and the field', () => {
    const bad = kernelRun(1) as Record<string, unknown>;
    delete (bad.main as { timings: { timing: Record<string, unknown> }[] }).timings[0].timing.bytes;
    const file = write('bad-kernels.json', bad);
    expect(() => mergeRunFiles([files.kernels[0], file], RUN_KINDS)).toThrow(new RegExp(`${file}: main\\.timings\\.0\\.timing\\.bytes: `));
    const torch = write('bad-torch.json', { ...torchRun(1, 1), rows: [{ ...torchRun(1, 1).rows[0], denseFp32Ms: 'fast' }] });
    expect(() => readRunFile(torch, RUN_KINDS)).toThrow(/bad-torch\.json: rows\.0\.denseFp32Ms: /);
    const tune = write('bad-tune.json', { ...tuneRun(1), rows: [{ kernel: 7, knob: 'attention', value: 'defaults', ms: 1 }] });
    expect(() => readRunFile(tune, RUN_KINDS)).toThrow(/bad-tune\.json: rows\.0\.kernel: /);
    expect(() => readRunFile(path.join(root, 'package.json'), RUN_KINDS)).toThrow(/package\.json: not a benchmark run the merge knows \(no kind; expected one of clusterkv-kernel-bench, /);
    writeFileSync(path.join(dir, 'truncated.json'), '{"kind": "clusterkv-kernel-bench"');
    expect(() => readRunFile(path.join(dir, 'truncated.json'), RUN_KINDS)).toThrow(/truncated\.json: not readable JSON/);
  });

  it('merges one kind at a time, not a merged file again (unless it keeps its runs), and not nothing', async () => {
    expect(() => mergeRunFiles([files.kernels[0], files.torch[0]], RUN_KINDS)).toThrow(/torch-0\.json: a PyTorch reference .* not a kernel benchmark .* merge one kind at a time/);
    const merged = write('kernels-merged.json', mergeRunFiles(files.kernels, RUN_KINDS).merged);
    expect(() => mergeRunFiles([merged, files.kernels[0]], RUN_KINDS)).toThrow(/kernels-merged\.json: already a merged kernel benchmark/);
    const e2e = await e2eRunFiles();
    const half = write('e2e-half.json', mergeRunFiles(e2e.slice(0, 9), RUN_KINDS).merged);
    const again = mergeRunFiles([half, ...e2e.slice(9)], RUN_KINDS).merged as { runs: unknown[] };
    expect(again.runs.length).toBe(18);
    expect(() => mergeRunFiles([files.torch[0], write('torch-other.json', { ...torchRun(1, 1), device: 'NVIDIA H100' })], RUN_KINDS)).toThrow(/torch-other\.json: another device/);
    expect(() => mergeRunFiles([], RUN_KINDS)).toThrow(/no run files/);
  });

  it('weighs GEMV splits by each product\'s runs per step, and keeps runs of different model shapes apart', () => {
    // a 16-layer model: qkv runs 16 times a step, the output head once; split a is faster on qkv, b on the head
    const row = (shape: string, asked: string, us: number, perStep: number) => ({ batch: 1, shape, split: asked, asked, medianUs: us, GBps: 1, ofCeiling: 0.5, perStep });
    const run = (model: string) => ({ ...gemvRun(1, 4000), model, weights: 'f16', rows: [row('qkv', 'a', 10, 16), row('qkv', 'b', 12, 16), row('output', 'a', 100, 1), row('output', 'b', 90, 1)] });
    const merged = mergeRunFiles([write('g1.json', run('llama-3.2-1b')), write('g2.json', run('llama-3.2-1b'))], RUN_KINDS);
    expect(merged.merged).toMatchObject({ model: 'llama-3.2-1b', weights: 'f16' });
    // a: 16 x 10 + 100 = 260, b: 16 x 12 + 90 = 282 (with the old weights, 32 layers: 420 and 474; equal weights: 110, 102)
    expect(merged.summary).toMatch(/B=1: per-token GEMV time by split \(us\): a 260, b 282/);
    expect(() => mergeRunFiles([write('g3.json', run('llama-3.2-1b')), write('g4.json', run('qwen2.5-0.5b'))], RUN_KINDS)).toThrow(/different model shapes or weight storage/);
    // a run from before the tune took model shapes is one of the default shape in f32
    const old = write('g5.json', gemvRun(30, 4400));
    expect(mergeRunFiles([old, write('g6.json', { ...gemvRun(32, 4400), model: 'llama-3-8b-e2e', weights: 'f32' })], RUN_KINDS).merged).toMatchObject({ processes: 2 });
    expect(() => mergeRunFiles([old, write('g7.json', { ...gemvRun(32, 4400), model: 'llama-3-8b-e2e', weights: 'f16' })], RUN_KINDS)).toThrow(/llama-3-8b-e2e f32, llama-3-8b-e2e f16/);
  });
});

describe('mutation check of the merge statistics', () => {
  afterEach(() => {
    vi.doUnmock('../../../src/sim/quantile.js');
    vi.resetModules();
  });

  /** The merges with `median` replaced; the e2e run files are written by the real modules. */
  async function mutantFigures(mutant: (xs: readonly number[]) => number): Promise<Record<string, number>> {
    const e2eRuns = await e2eRunFiles();
    vi.resetModules();
    vi.doMock('../../../src/sim/quantile.js', async (importOriginal) => ({ ...(await importOriginal<typeof import('../../../src/sim/quantile.js')>()), median: mutant }));
    const mods = { ...(await import('../../../src/sim/bench/merge-runs.js')), ...(await import('../../../bench/run-kinds.js')), e2eRuns };
    return mergedFigures(mods);
  }

  it('every merged figure changes when the median becomes the max', async () => {
    const expected = close(await expectedFigures());
    const mutated = close(await mutantFigures((xs) => Math.max(...xs)));
    const survivors = Object.keys(expected).filter((k) => mutated[k] === expected[k]);
    expect(survivors).toEqual([]);
  });

  it('the even-count figures change when an even count takes its upper middle value', async () => {
    const expected = close(await expectedFigures());
    const mutated = close(await mutantFigures((xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]));
    expect(Object.keys(expected).filter((k) => mutated[k] !== expected[k]).sort()).toEqual(['e2eCeilingEven', 'evenKernelMs', 'evenReadCeiling']);
  });
});
