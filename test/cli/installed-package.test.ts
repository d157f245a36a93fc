/**
 * The CLI of the build run as a project that installed the package runs it (issue 22, items 1 and 3):
 * node_modules/.bin/clusterkv, a link into node_modules/clusterkv-lab/dist/cli/main.js, called from the
 * project; and dist/cli/main.js called from a folder outside any project. A sweep on local worker processes
 * (the default --jobs) finds its worker entry in the package, and the text moby-dick is the package's own.
 * (scripts/consumer-test.mjs does the same from a real `npm install` of the packed tarball.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { folderFiles } from '../helpers/sweep-files.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const models = path.join(root, '..', 'shared', 'models');
const SWEEP = ['--methods', 'oracle,clusterkv', '--budgets', '64', '--clusters', '16', '--param', 'denseLayers=0', '--backend', 'wasm', '--quiet'];

let trace: string;
let project: string;
let bin: string;

function run(file: string, args: string[], cwd: string) {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, CLUSTERKV_PROGRESS: 'off' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  await ensureBuilt();
  trace = await smallTrace();
  project = tempDir('ckv-installed-');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  mkdirSync(path.join(project, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(root, path.join(project, 'node_modules', 'clusterkv-lab'), 'dir');
  bin = path.join(project, 'node_modules', '.bin', 'clusterkv');
  symlinkSync(path.join('..', 'clusterkv-lab', 'dist', 'cli', 'main.js'), bin);
}, 300_000);

describe('the installed CLI', () => {
  it('node_modules/.bin/clusterkv sweep on local worker processes writes the folder of a one-process sweep', () => {
    const pooled = path.join(project, 'pooled');
    const r = run(bin, ['sweep', trace, '--out', pooled, '--jobs', '2', ...SWEEP], project);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const alone = path.join(project, 'alone');
    expect(run(bin, ['sweep', trace, '--out', alone, '--jobs', '1', ...SWEEP], project).code).toBe(0);
    expect(folderFiles(pooled)).toEqual(folderFiles(alone));
    // and plots it with the package's plotly.js
    const plot = run(bin, ['plot', pooled], project);
    expect(plot.code, plot.stderr).toBe(0);
    expect(existsSync(path.join(pooled, 'figures', 'plotly.min.js'))).toBe(true);
  }, 300_000);

  it('dist/cli/main.js sweep with local worker processes from a folder outside any project', () => {
    const elsewhere = tempDir('ckv-elsewhere-');
    const r = run(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'sweep', trace, '--out', 'out', '--jobs', '2', ...SWEEP], elsewhere);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  }, 300_000);

  it('capture --text moby-dick reads the text the package ships', () => {
    const out = path.join(project, 'moby.safetensors');
    const r = run(bin, ['capture', '--model', path.join(models, 'stories260K', 'stories260K.bin'), '--tokenizer', path.join(models, 'stories260K', 'tok512.bin'), '--text', 'moby-dick', '--context', '48', '--steps', '2', '--out', out, '--backend', 'cpu', '--json'], project);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).manifest.source.prompt).toMatch(/^CHAPTER 1\. Loomings\./);
  }, 120_000);
});
