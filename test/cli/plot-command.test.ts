/** `clusterkv plot DIR [--png]` on a real sweep folder, run as a user would (node bin/clusterkv.js). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { itNeeds } from '../helpers/requirements.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');

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

  it('renders the standard figures as HTML, plotly.js once in the folder, with an index that embeds them all', () => {
    const run = clusterkv('plot', sweepDir, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const figures = path.join(sweepDir, 'figures');
    expect(JSON.parse(run.stdout).files.map((f: string) => path.basename(f))).toEqual(['plotly.min.js', 'recall-vs-budget.html', 'error-vs-budget.html', 'heatmap-mass-recall.html', 'recall-vs-attended.html', 'index.html']);
    for (const id of ['recall-vs-budget', 'error-vs-budget', 'heatmap-mass-recall', 'recall-vs-attended']) {
      const html = readFileSync(path.join(figures, `${id}.html`), 'utf8');
      expect(html.includes(`data-clusterkv-figure="${id}"`)).toBe(true);
      expect(html.includes('src="plotly.min.js"')).toBe(true);
      expect(html.length).toBeLessThan(100_000);
    }
    const index = readFileSync(path.join(figures, 'index.html'), 'utf8');
    expect(index.match(/data-clusterkv-figure="/g)!.length).toBe(4);
    // series: one line per clusterkv cluster count, quest and oracle; full is the no-budget reference
    const recall = readFileSync(path.join(figures, 'recall-vs-budget.html'), 'utf8');
    for (const name of ['clusterkv C0=4', 'clusterkv C0=8', 'oracle', 'quest', 'full (no budget)']) expect(recall.includes(`"name":"${name}"`), name).toBe(true);
    expect(index.includes('dense first layers left out')).toBe(true);
    // four series: bands hidden, one click away ('bands on'); the heatmap marks the dense first layers
    expect(recall.includes('"label":"bands on"')).toBe(true);
    expect(recall.includes('"visible":false')).toBe(true);
    const heatmap = readFileSync(path.join(figures, 'heatmap-mass-recall.html'), 'utf8');
    expect(heatmap.includes('"text":"dense: layers 0–1 attend all"')).toBe(true);
    // --inline-plotly: each page stands alone
    const inline = clusterkv('plot', sweepDir, '--inline-plotly', '--band', 'none');
    expect(inline.code).toBe(0);
    const standalone = readFileSync(path.join(figures, 'error-vs-budget.html'), 'utf8');
    expect(standalone.includes('src="plotly.min.js"')).toBe(false);
    expect(standalone.length).toBeGreaterThan(3_000_000);
    expect(standalone.includes('"fill":"toself"')).toBe(false); // --band none
  }, 120_000);

  itNeeds('chromium', 'renders the standard figures as PNG too', () => {
    const run = clusterkv('plot', sweepDir, '--png');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const id of ['recall-vs-budget', 'error-vs-budget', 'heatmap-mass-recall', 'recall-vs-attended']) {
      const png = readFileSync(path.join(sweepDir, 'figures', `${id}.png`));
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
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
    expectUserError(clusterkv('plot', sweepDir, '--band', 'iqr', '--budget', '999'), /--budget 999: no results at that budget in .*results\.csv \(budgets present: 64, 128\)/);
    expect(existsSync(path.join(broken, 'figures'))).toBe(false);
  }, 120_000);
});
