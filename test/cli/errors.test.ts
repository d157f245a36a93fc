/**
 * Regression tests of issue 12, items 6, 8 and 11: every error a user can cause is one line naming the file or
 * option, exit 1, and output places are checked before any work; messages name what went wrong; --version,
 * --json and progress. Most run in process (runCli); the permission cases run the real CLI as nobody.
 */
import { mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeError, errnoMessage, checkOutputFile, checkOutputFolder, isBackendFailure, UserError } from '../../src/cli/errors.js';
import { useBackend } from '../../src/gpu/backend.js';
import { kernelsFor } from '../../src/gpu/kernel-list.js';
import { VERSION } from '../../src/version.js';
import { clusterkvProcess, runCliCaptured, type CliRun } from '../helpers/cli.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

/** A user error: exit 1 and exactly one line `clusterkv: ...` matching `pattern`, no stack trace. */
function expectOneLine(run: CliRun, pattern: RegExp): void {
  expect(run.stderr).toMatch(/^clusterkv: [^\n]+\n$/);
  expect(run.stderr).toMatch(pattern);
  expect(run.code).toBe(1);
}

const asRoot = process.getuid?.() === 0;
const dir = tempDir('ckv-cli-errors-');
let trace = '';

beforeAll(async () => {
  chmodSync(dir, 0o755); // the nobody runs must reach the files
  trace = await smallTrace({ layers: 3, heads: 2, kvHeads: 1, headDim: 8, context: 96, steps: 2 }, dir);
  mkdirSync(path.join(dir, 'a-folder'));
  mkdirSync(path.join(dir, 'locked'));
  chmodSync(path.join(dir, 'locked'), 0o555);
  writeFileSync(path.join(dir, 'a-file'), 'x');
});

afterEach(() => {
  delete process.env.CLUSTERKV_BACKEND;
  delete process.env.CLUSTERKV_PROGRESS;
});

describe('item 6: one line for what a user can cause', () => {
  it('a folder given as the trace: info, sweep, cachesim, export', async () => {
    const folder = path.join(dir, 'a-folder');
    const out = path.join(dir, 'out-eisdir');
    for (const argv of [['info', folder], ['sweep', folder, '--out', out, '--backend', 'cpu'], ['cachesim', folder, '--backend', 'cpu'], ['export', folder, '--out', `${out}.safetensors`]]) {
      expectOneLine(await runCliCaptured(argv), new RegExp(`${folder}: is a folder or device, not a trace file`));
    }
    expect(existsSync(out)).toBe(false);
  });

  it('an --out that is a folder, or below a file', async () => {
    const folder = path.join(dir, 'a-folder');
    const underFile = path.join(dir, 'a-file', 'x');
    expectOneLine(await runCliCaptured(['synth', '--out', folder]), /--out .*a-folder: is a folder, not a file/);
    expectOneLine(await runCliCaptured(['export', trace, '--out', folder]), /--out .*a-folder: is a folder, not a file/);
    expectOneLine(await runCliCaptured(['sweep', trace, '--out', underFile, '--backend', 'cpu']), /--out .*a-file\/x: .*a-file is a file, not a folder/);
    expectOneLine(await runCliCaptured(['cachesim', trace, '--out', underFile, '--backend', 'cpu']), /--out .*a-file\/x: .*a-file is a file, not a folder/);
    expectOneLine(await runCliCaptured(['bench', '--out', path.join(underFile, 'b.json'), '--backend', 'cpu']), /--out .*b\.json: .*a-file is a file, not a folder/);
  });

  // root passes permission checks, so the CLI runs as nobody there (setpriv); as another user the mode suffices
  it('an --out where nothing can be written: refused before any work, for every writing command', () => {
    const locked = path.join(dir, 'locked');
    const run = (args: string[]) => clusterkvProcess(args, { asNobody: asRoot, env: { CLUSTERKV_PROGRESS: 'lines', CLUSTERKV_BACKEND: 'cpu' } });
    const cases: [string[], RegExp][] = [
      [['synth', '--out', path.join(locked, 't.safetensors')], /--out .*locked\/t\.safetensors: cannot write there \(in .*locked\): permission denied/],
      [['export', trace, '--out', path.join(locked, 'e.safetensors')], /--out .*e\.safetensors: cannot write there/],
      [['sweep', trace, '--out', path.join(locked, 'sweep')], /--out .*locked\/sweep: cannot write there \(in .*locked\): permission denied/],
      [['cachesim', trace, '--out', path.join(locked, 'cache'), '--budget', '16'], /--out .*locked\/cache: cannot write there/],
      // bench's first line ('backend cpu') would come before any timing: the check comes before both
      [['bench', '--out', path.join(locked, 'bench.json')], /--out .*bench\.json: cannot write there/],
      [['plot', locked], /.*locked\/(results\.csv not found|figures: cannot write there)/],
    ];
    for (const [args, pattern] of cases) expectOneLine(run(args), pattern);
    expect(readdirSync(locked)).toEqual([]);
  }, 180_000);

  it('plot refuses a figures folder it cannot write before rendering', () => {
    const sweepDir = path.join(dir, 'sweep-for-plot');
    expect(clusterkvProcess(['sweep', trace, '--out', sweepDir, '--methods', 'oracle', '--budgets', '16,32', '--backend', 'cpu', '--quiet']).code).toBe(0);
    chmodSync(sweepDir, 0o555);
    try {
      expectOneLine(clusterkvProcess(['plot', sweepDir], { asNobody: asRoot }), /figures folder .*sweep-for-plot\/figures: cannot write there \(in .*sweep-for-plot\): permission denied/);
    } finally {
      chmodSync(sweepDir, 0o755);
    }
    expect(existsSync(path.join(sweepDir, 'figures'))).toBe(false);
  }, 120_000);

  it('maps errno errors to one line naming the path', () => {
    const errnoOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as NodeJS.ErrnoException;
      }
      throw new Error('no error');
    };
    expect(errnoMessage(errnoOf(() => writeFileSync(path.join(dir, 'a-folder'), 'x')))).toBe(`${path.join(dir, 'a-folder')}: is a folder, not a file`);
    // a read of a folder's handle carries no path: the meaning and Node's words
    expect(errnoMessage(errnoOf(() => readFileSync(path.join(dir, 'a-folder'))))).toBe('is a folder, not a file (EISDIR: illegal operation on a directory, read)');
    expect(errnoMessage(errnoOf(() => readFileSync(path.join(dir, 'absent'))))).toBe(`${path.join(dir, 'absent')}: no such file or folder`);
    expect(errnoMessage(errnoOf(() => writeFileSync(path.join(dir, 'a-file', 'x.tmp-123'), '')))).toBe(`${path.join(dir, 'a-file', 'x')}: a part of the path is a file, not a folder`);
    expect(errnoMessage(errnoOf(() => readFileSync(path.join(dir, 'absent'))), { option: '--text' })).toMatch(/^--text .*absent: no such file or folder$/);
    const described = describeError(errnoOf(() => writeFileSync(path.join(dir, 'a-folder'), 'x')));
    expect(described).toEqual({ line: `clusterkv: ${path.join(dir, 'a-folder')}: is a folder, not a file`, exitCode: 1 });
    expect(() => checkOutputFolder(path.join(dir, 'a-file'))).toThrow(UserError);
    expect(() => checkOutputFile(path.join(dir, 'new', 'deeper', 'f.json'))).not.toThrow();
    expect(existsSync(path.join(dir, 'new'))).toBe(false); // the check creates nothing
  });

  it('turns a backend failure into one line naming the backend, and keeps internal errors with their stack', async () => {
    await useBackend('wasm');
    let failure: unknown;
    try {
      // a real error raised inside tfjs-backend-wasm (it has no int32 matMul)
      tf.matMul(tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[1], [2]], [2, 1], 'int32')).dataSync();
    } catch (err) {
      failure = err;
    }
    expect(isBackendFailure(failure)).toBe(true);
    const line = describeError(failure, 'wasm');
    expect(line.exitCode).toBe(1);
    expect(line.line).toMatch(/^clusterkv: the wasm backend failed: BatchMatMul for non non-float32 tensors not yet supported\. \(.*--backend cpu/);
    expect(line.line).not.toMatch(/\n/);
    let huge: unknown;
    try {
      new Float32Array(2 ** 40);
    } catch (err) {
      huge = err;
    }
    expect(describeError(huge)).toMatchObject({ exitCode: 1, line: expect.stringMatching(/^clusterkv: out of memory: .*Invalid typed array length/) });
    const internal = describeError(new TypeError('x is undefined'));
    expect(internal.exitCode).toBe(70);
    expect(internal.line).toMatch(/^clusterkv: internal error: TypeError: x is undefined\n\s+at /);
    expect(isBackendFailure(new TypeError('x'))).toBe(false);
  });
});

describe('item 8: messages', () => {
  it("prints a method's own 'clusterkv: ' message without doubling the prefix", async () => {
    const run = await runCliCaptured(['sweep', trace, '--out', path.join(dir, 'sw-param'), '--methods', 'clusterkv', '--budgets', '16', '--param', 'tokensPerCluster=0', '--backend', 'cpu']);
    expectOneLine(run, /^clusterkv: method 'clusterkv': parameter 'tokensPerCluster' must be an integer >= 1, got 0\n$/);
    expect(describeError(new RangeError('quest: parameter budget')).line).toBe('clusterkv: quest: parameter budget');
  });

  it('names CLUSTERKV_BACKEND or --backend in backend errors, before any work', async () => {
    process.env.CLUSTERKV_BACKEND = 'foo';
    const out = path.join(dir, 'sw-backend');
    expectOneLine(await runCliCaptured(['sweep', trace, '--out', out]), /^clusterkv: CLUSTERKV_BACKEND=foo: unknown backend \(expected one of tensorflow, webgpu, wasm, cpu\)\n$/);
    expectOneLine(await runCliCaptured(['sweep', trace, '--out', out, '--backend', 'bar']), /^clusterkv: --backend bar: unknown backend/);
    expect(existsSync(out)).toBe(false);
    // a flag wins over the environment
    process.env.CLUSTERKV_BACKEND = 'foo';
    const run = await runCliCaptured(['sweep', trace, '--out', out, '--backend', 'cpu', '--methods', 'oracle', '--budgets', '16', '--quiet']);
    expect(run.code).toBe(0);
  });

  it('a missing required option or an unknown one: one line and a pointer to --help, exit 1', async () => {
    expectOneLine(await runCliCaptured(['sweep', trace]), /^clusterkv: required option '--out <dir>' not specified \(see clusterkv sweep --help\)\n$/);
    expectOneLine(await runCliCaptured(['export', trace, '--out', path.join(dir, 'x.safetensors'), '--bogus']), /^clusterkv: unknown option '--bogus' \(see clusterkv export --help\)\n$/);
    expectOneLine(await runCliCaptured(['swep']), /^clusterkv: unknown command 'swep' \(Did you mean sweep\?\) \(see clusterkv --help\)\n$/);
  });

  it('--version', async () => {
    const run = await runCliCaptured(['--version']);
    expect(run).toEqual({ code: 0, stdout: `clusterkv-lab ${VERSION}\n`, stderr: '' });
  });

  it("export names KV heads --kv-heads and refuses --heads with the option to use", async () => {
    expectOneLine(await runCliCaptured(['export', trace, '--out', path.join(dir, 'e.safetensors'), '--heads', '0']),
      /^clusterkv: export --heads: use --kv-heads 0 \(export keeps KV heads, each with its query heads; sweep's --heads picks query heads\)\n$/);
    expectOneLine(await runCliCaptured(['export', trace, '--out', path.join(dir, 'e.safetensors'), '--kv-heads', '1']), /export kvHeads: 1 is out of range \(the trace has KV heads 0\.\.0\)/);
    const ok = await runCliCaptured(['export', trace, '--out', path.join(dir, 'e.safetensors'), '--kv-heads', '0', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).manifest.model).toMatchObject({ kvHeads: 1, heads: 2 });
  });

  it('bench with GPU-sized contexts on a host backend warns, and shows its stages as progress', async () => {
    process.env.CLUSTERKV_PROGRESS = 'lines';
    const run = await runCliCaptured(['bench', '--backend', 'cpu', '--context', '9000', '--heads', '1', '--kv-heads', '1', '--head-dim', '8', '--clusters', '4',
      '--budgets', '64', '--runs', '1', '--warmup', '0', '--iters', '1', '--kmeans-runs', '1', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/bench: warning: context 9000 \(the defaults are sized for an H200\) on the cpu backend runs for many minutes/);
    const progress = run.stderr.split('\n').filter((l) => l.startsWith('bench ') && /^bench \d+\/\d+/.test(l));
    // one line per timed kernel of the kernel list (op chains on cpu, f32 K/V: the default off webgpu), counted against the run's total
    const total = kernelsFor(['f32']).filter((k) => k.paths.includes('ops')).length;
    expect(progress[0]).toBe(`bench 0/${total} 1/1 inputs`);
    expect(progress).toContain(`bench 2/${total} 1/1 dense-attention [ops]`);
    expect(progress).toContain(`bench 3/${total} 1/1 clusterkv-step B=64 [ops]`);
    expect(progress.at(-1)).toBe(`bench ${total}/${total} 1/1 kmeans [ops]`);
    expect(progress).toHaveLength(total + 1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ kind: 'clusterkv-kernel-bench', backend: 'cpu' });
    expect(report.main.config.budgets).toEqual([64]);
  }, 120_000);
});

describe('item 11: --json and progress', () => {
  it('synth, info, sweep and cachesim print their summaries as JSON; cachesim shows progress per layer', async () => {
    const file = path.join(dir, 'j.safetensors');
    const synth = await runCliCaptured(['synth', '--out', file, '--layers', '3', '--heads', '2', '--kv-heads', '1', '--head-dim', '8', '--context', '96', '--steps', '2', '--json']);
    expect(synth.code).toBe(0);
    expect(JSON.parse(synth.stdout)).toMatchObject({ file, manifest: { model: { layers: 3 } } });
    expect(JSON.parse((await runCliCaptured(['info', file, '--json'])).stdout).layers).toHaveLength(3);
    const sweep = await runCliCaptured(['sweep', file, '--out', path.join(dir, 'j-sweep'), '--methods', 'oracle,quest', '--budgets', '16', '--backend', 'cpu', '--json']);
    expect(sweep.code).toBe(0);
    const summary = JSON.parse(sweep.stdout);
    expect(summary).toMatchObject({ backend: 'cpu', cells: 2 });
    expect(summary.summary.map((r: { method: string }) => r.method).sort()).toEqual(['oracle', 'quest']);
    process.env.CLUSTERKV_PROGRESS = 'lines';
    const cache = await runCliCaptured(['cachesim', file, '--methods', 'quest', '--budget', '16', '--policies', 'lru:8', '--backend', 'cpu', '--json']);
    expect(cache.code).toBe(0);
    expect(JSON.parse(cache.stdout).summary[0]).toMatchObject({ method: 'quest', policy: 'lru:8' });
    expect(cache.stderr.split('\n').filter((l) => l.startsWith('cachesim '))).toEqual(['cachesim 0/3 layer 0', 'cachesim 1/3 layer 1', 'cachesim 2/3 layer 2', 'cachesim 3/3']);
  }, 120_000);

  it('generate --json carries the text and the comparison; progress per generated token', async () => {
    process.env.CLUSTERKV_PROGRESS = 'lines';
    const models = path.join('..', 'shared', 'models', 'stories260K');
    const run = await runCliCaptured(['generate', '--model', path.join(models, 'stories260K.bin'), '--tokenizer', path.join(models, 'tok512.bin'), '--prompt', 'Once upon',
      '--steps', '4', '--attention', 'oracle', '--budget', '8', '--backend', 'cpu', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.ids).toHaveLength(4);
    expect(typeof result.text).toBe('string');
    expect(result.comparison.steps).toHaveLength(4);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('generate '))).toEqual(['generate 0/4 tokens prefill', 'generate 1/4 tokens', 'generate 2/4 tokens', 'generate 3/4 tokens', 'generate 4/4 tokens']);
  }, 120_000);
});
