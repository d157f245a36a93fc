// The benchmark driver (bench/run.ts) end to end as the GPU host runs it, at the tiny size on wasm: the kernels
// suite in two fresh processes through tsx and in one from the JavaScript build (tsconfig.gpu.json ->
// .gpu-build/, what a GPU host without tsx runs), every run and the merged file checked against the schema, the
// merged medians against the runs', and bad input as one line.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBenchFile } from '../../../src/sim/bench/bench-file.js';
import { findTiming } from '../../../src/sim/bench/kernel-bench.js';
import { readRunFile } from '../../../src/sim/bench/merge-runs.js';
import { timingMs } from '../../../src/sim/bench/timing.js';
import { median } from '../../../src/sim/quantile.js';
import { RUN_KINDS } from '../../../bench/run-kinds.js';
import { cardName } from '../../../bench/suite.js';
import { root } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/traces.js';

const tsx = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });

describe('bench/run.ts', () => {
  it('runs the kernels suite in fresh processes on wasm and merges runs the schema accepts', () => {
    const out = tempDir('ckv-driver-');
    const run = tsx(['kernels', '--backend', 'wasm', '--size', 'tiny', '--processes', '2', '--runs', '3', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const dir = path.join(out, 'kernels');
    const runs = ['main-1.json', 'main-2.json'].map((f) => path.join(dir, f));
    for (const file of [...runs, path.join(dir, 'kernels.json')]) expect(readRunFile(file, RUN_KINDS).kind.kind).toBe('clusterkv-kernel-bench');
    const merged = readBenchFile(path.join(dir, 'kernels.json'));
    expect(merged.processes).toBe(2);
    expect(merged.backend).toBe('wasm');
    const each = runs.map((f) => readBenchFile(f));
    // the suite's defaults reach every process: f16 and f32 K/V side by side, and --runs in place of the size's samples
    for (const b of each) expect(b.main!.config).toMatchObject({ kvDtypes: ['f16', 'f32'], runs: 3 });
    for (const kernel of ['dense-attention', 'kmeans']) {
      const perRun = each.map((b) => timingMs(findTiming(b.main!, kernel, 'ops')!));
      expect(timingMs(findTiming(merged.main!, kernel, 'ops')!)).toBeCloseTo(median(perRun), 12);
      expect(findTiming(merged.main!, kernel, 'ops')!.processes!.kernelMs).toEqual(perRun);
    }
    const suite = JSON.parse(readFileSync(path.join(dir, 'suite.json'), 'utf8')) as { suite: string; host: { cpu: string }; runs: { ok: boolean; file: string }[]; merged: string };
    expect(suite).toMatchObject({ suite: 'kernels', merged: 'kernels.json' });
    expect(suite.runs.map((r) => [r.file, r.ok])).toEqual([['main-1.json', true], ['main-2.json', true]]);
    expect(readFileSync(path.join(dir, 'kernels.md'), 'utf8')).toMatch(/^wasm: main yes, contexts none, up to 2 processes per configuration\n512\tcopy \[ops\]/);
    expect(run.stderr).toMatch(/suite kernels: 2 fresh process\(es\) per configuration, size tiny, backend wasm/);
  });

  it('runs from the JavaScript build of tsconfig.gpu.json, as a GPU host without tsx does', () => {
    // `npm run build:gpu`, as bench/README.md says to build: the pinned TypeScript (node_modules/.bin/tsc is tslab's 5.0.4)
    const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.gpu.json'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(build.status, build.stdout).toBe(0);
    const out = tempDir('ckv-driver-js-');
    const tar = path.join(out, 'gpu-run.tar');
    const run = spawnSync(process.execPath, ['.gpu-build/bench/run.js', 'kernels', '--backend', 'wasm', '--size', 'tiny', '--processes', '1', '--out', path.join(out, 'results'), '--tar', tar], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(run.status, run.stderr).toBe(0);
    const log = readFileSync(path.join(out, 'results', 'kernels', 'main-1.txt'), 'utf8');
    expect(log).toMatch(/wrote .*main-1\.json/);
    expect(readBenchFile(path.join(out, 'results', 'kernels', 'kernels.json')).processes).toBe(1);
    const listed = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.split('\n');
    expect(listed).toEqual(expect.arrayContaining(['./kernels/kernels.json', './kernels/main-1.json', './kernels/suite.json']));
  });

  it('names the card of result files from nvidia-smi\'s name', () => {
    const saved = process.env.CLUSTERKV_CARD;
    delete process.env.CLUSTERKV_CARD;
    try {
      expect(cardName('NVIDIA H100 80GB HBM3, 570.86.15, 81559 MiB')).toBe('h100');
      expect(cardName('NVIDIA H200; NVIDIA H200')).toBe('h200');
      expect(cardName('NVIDIA A100-SXM4-80GB, 535.1, 81920 MiB')).toBe('a100');
      expect(cardName('NVIDIA L40S')).toBe('l40s');
      expect(cardName('NVIDIA GeForce RTX 4090')).toBe('nvidia-geforce-rtx-4090');
      expect(cardName(null)).toBeUndefined();
      process.env.CLUSTERKV_CARD = 'h100-pcie';
      expect(cardName('NVIDIA H100 80GB HBM3')).toBe('h100-pcie');
    } finally {
      if (saved === undefined) delete process.env.CLUSTERKV_CARD;
      else process.env.CLUSTERKV_CARD = saved;
    }
  });

  it('says what is wrong in one line: an unknown size, a file the merge does not take, an unknown command', () => {
    const size = tsx(['kernels', '--size', 'huge']);
    expect(size.status).toBe(1);
    expect(size.stderr.trim()).toMatch(/^clusterkv: option '--size <size>' argument 'huge' is invalid\. Allowed choices are full, small, tiny\. \(see bench\/run\.ts kernels --help\)$/);
    const out = path.join(tempDir('ckv-driver-'), 'merged.json');
    const merge = tsx(['merge', out, 'package.json']);
    expect(merge.status).toBe(1);
    expect(merge.stderr.trim()).toBe("clusterkv: package.json: not a benchmark run the merge knows (no kind; expected one of clusterkv-kernel-bench, clusterkv-e2e-bench-merged, clusterkv-model-check, clusterkv-engine-run, clusterkv-passkey-run, clusterkv-torch-reference, clusterkv-kernel-tuning, clusterkv-e2e-gemv-tuning)");
    expect(existsSync(out)).toBe(false);
    const unknown = tsx(['kernel']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^clusterkv: unknown command 'kernel'.*\(see bench\/run\.ts --help\)$/);
  });
});
