/** `clusterkv plot DIR [--png]` on a real sweep folder, run as a user would (node bin/clusterkv.js). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { smallTrace, tempDir } from './helpers/traces.js';

const root = path.join(__dirname, '..');

function clusterkv(...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function expectUserError(run: ReturnType<typeof clusterkv>, pattern: RegExp): void {
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(/^clusterkv: /);
  expect(run.stderr).toMatch(pattern);
  expect(run.code).toBe(1);
}

describe('clusterkv plot', () => {
  const dir = tempDir('ckv-plot-');
  const sweepDir = path.join(dir, 'sweep');

  beforeAll(async () => {
    const trace = await smallTrace({ layers: 3 }, dir);
    const sweep = clusterkv('sweep', trace, '--out', sweepDir, '--methods', 'full,oracle,clusterkv,quest', '--budgets', '64,128',
      '--clusters', '4,8', '--steps', '0,1', '--backend', 'wasm', '--quiet');
    expect(sweep.stderr).toBe('');
    expect(sweep.code).toBe(0);
  }, 120_000);

  it('renders the standard figures as HTML and PNG, with an index that embeds them all', () => {
    const run = clusterkv('plot', sweepDir, '--png');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const figures = path.join(sweepDir, 'figures');
    for (const id of ['recall-vs-budget', 'error-vs-budget', 'heatmap-mass-recall']) {
      const html = readFileSync(path.join(figures, `${id}.html`), 'utf8');
      expect(html.includes(`data-clusterkv-figure="${id}"`)).toBe(true);
      const png = readFileSync(path.join(figures, `${id}.png`));
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
    const index = readFileSync(path.join(figures, 'index.html'), 'utf8');
    expect(index.match(/data-clusterkv-figure="/g)!.length).toBe(3);
    // series: one line per clusterkv cluster count, quest and oracle; full is the no-budget reference
    const recall = readFileSync(path.join(figures, 'recall-vs-budget.html'), 'utf8');
    for (const name of ['clusterkv C0=4', 'clusterkv C0=8', 'oracle', 'quest', 'full (no budget)']) expect(recall.includes(`"name":"${name}"`), name).toBe(true);
    expect(index.includes('dense first layers left out')).toBe(true);
  }, 120_000);

  it('explains a missing folder, a folder without results, a wrong table and a broken manifest', () => {
    expectUserError(clusterkv('plot', path.join(dir, 'absent')), /absent: no such folder/);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    expectUserError(clusterkv('plot', empty), /results\.csv not found/);
    const wrong = path.join(dir, 'wrong');
    mkdirSync(wrong);
    writeFileSync(path.join(wrong, 'results.csv'), 'method,budget\nx,1\n');
    expectUserError(clusterkv('plot', wrong), /lacks column\(s\) layer, head, step, massRecall/);
    const broken = path.join(dir, 'broken');
    mkdirSync(broken);
    copyFileSync(path.join(sweepDir, 'results.csv'), path.join(broken, 'results.csv'));
    writeFileSync(path.join(broken, 'manifest.json'), '{"kind": "clusterkv-sweep",');
    expectUserError(clusterkv('plot', broken), /manifest\.json is not valid JSON/);
    expectUserError(clusterkv('plot', sweepDir, '--band', 'iqr', '--budget', '999'), /no rows at budget 999/);
    expect(existsSync(path.join(broken, 'figures'))).toBe(false);
  }, 120_000);
});
