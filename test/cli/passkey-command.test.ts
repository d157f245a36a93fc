/** `clusterkv eval passkey` and `clusterkv plot` on its folder, run as a user would (node bin/clusterkv.js). */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const MODELS = '../shared/models';
const base = ['eval', 'passkey', '--model', `${MODELS}/ckvlab-passkey-9m/model.bin`, '--tokenizer', `${MODELS}/stories260K/tok512.bin`, '--backend', 'wasm'];

function clusterkv(...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('clusterkv eval passkey', () => {
  it('runs a grid, prints the summary as JSON, and plot draws the folder', () => {
    const out = path.join(tempDir('ckv-pk-cli-'), 'eval');
    const run = clusterkv(...base, '--contexts', '512', '--depths', '0.5', '--keys', '1', '--methods', 'full,quest', '--budgets', '32', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.denseAccuracy).toBe(1);
    expect(json.denseMisses).toEqual([]);
    expect(json.summary.map((r: Record<string, unknown>) => [r.method, r.budget, r.documents])).toEqual([['full', null, 1], ['quest', 32, 1]]);
    for (const f of ['results.csv', 'results.arrow', 'steps.csv', 'manifest.json', 'documents/c512-d0.5-k0.json']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ kind: 'clusterkv-passkey-eval', status: 'complete', seed: 0, filler: { name: 'moby-dick' }, model: { sha256: 'a84edcdd80fd5096a97990f2fbb213b373d7fc157285639238159fc74f5ad0a9' } });
    // the table, again, with nothing left to compute
    const again = clusterkv(...base, '--contexts', '512', '--depths', '0.5', '--keys', '1', '--methods', 'full,quest', '--budgets', '32', '--out', out);
    expect(again.stdout).toMatch(/0 document-cells computed, 2 already done/);
    expect(again.stdout).toMatch(/dense \(full\) accuracy 1\.000 over 1 document\n/);
    const plot = clusterkv('plot', out);
    expect(plot.code, plot.stderr).toBe(0);
    expect(plot.stdout).toMatch(/wrote 5 files/); // three figures, index.html, plotly.min.js
    expect(readFileSync(path.join(out, 'figures', 'index.html'), 'utf8')).toMatch(/data-clusterkv-figure="passkey-accuracy-vs-budget"/);
  }, 120_000);

  it('a re-run with another grid summarises its own documents x cells, and says the folder holds more (issue 22, item 4)', async () => {
    const out = path.join(tempDir('ckv-pk-cli-'), 'eval');
    const grid = ['--contexts', '512', '--keys', '1', '--budgets', '32', '--out', out];
    const first = await runCliCaptured([...base, ...grid, '--depths', '0,0.5', '--methods', 'quest']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).not.toMatch(/dense \(full\)|earlier runs/);
    const second = await runCliCaptured([...base, ...grid, '--depths', '0.5', '--methods', 'full,quest']);
    expect(second.code, second.stderr).toBe(0);
    const rows = second.stdout.split('\n').filter((l) => /^\s*(full|quest)\s/.test(l)).map((l) => l.trim().split(/\s+/));
    // every method over the same one document of this grid (the folder's quest rows of depth 0 left out)
    expect(rows.map((r) => [r[0], r.at(-1)])).toEqual([['full', '1'], ['quest', '1']]);
    expect(second.stdout).toMatch(/dense \(full\) accuracy 1\.000 over 1 document\n/);
    expect(second.stdout).toContain("the folder also holds earlier runs' rows (2 documents x 2 cells in all, results.csv has them); the table is this run's 1 document x 2 cells");
    expect(second.stdout).toContain('keys: 1 key (seed 0), each the same key in the same passage at every context and depth');
    const json = JSON.parse((await runCliCaptured([...base, ...grid, '--depths', '0.5', '--methods', 'full,quest', '--json'])).stdout);
    expect(json.summary.map((r: Record<string, unknown>) => [r.method, r.documents])).toEqual([['full', 1], ['quest', 1]]);
    expect(json.note).toMatch(/earlier runs/);
  }, 180_000);

  it('budgets at or above the shortest document get one warning line (issue 22, item 12)', async () => {
    const run = await runCliCaptured([...base, '--contexts', '512,1024', '--depths', '0.5', '--keys', '1', '--methods', 'quest', '--budgets', '32,512', '--out', path.join(tempDir('ckv-pk-cli-'), 'eval'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('clusterkv:'))).toEqual(['clusterkv: warning: --budgets 512: at or above the 512 tokens of the shortest document (--contexts 512), so that budget selects every position (dense attention, recall 1); budgets below 512 compare methods']);
  }, 120_000);

  it('a missing option points at the help of eval passkey, not of eval (issue 22, item 13)', async () => {
    const run = await runCliCaptured(['eval', 'passkey', '--out', tempDir()]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("clusterkv: required option '--model <path>' not specified (see clusterkv eval passkey --help)\n");
  });

  it('explains bad flags in one line, before loading anything', () => {
    const out = path.join(tempDir('ckv-pk-cli-'), 'eval');
    for (const [flags, pattern] of [
      [['--depths', '0.5,2'], /--depths must lie in \[0, 1\], got 2/],
      [['--contexts', 'abc'], /--contexts must be an integer, got 'abc'/],
      [['--methods', 'clusterkv', '--param', 'scoring=mean'], /'scoring' must be one of centroid \| bound/],
      [['--methods', 'nope'], /unknown method 'nope'/],
      [['--needle', 'no key here'], /'needle' must contain the key placeholder 'KEY'/],
    ] as [string[], RegExp][]) {
      const run = clusterkv(...base, '--out', out, ...flags);
      expect(run.code, flags.join(' ')).toBe(1);
      expect(run.stderr.trim().split('\n'), flags.join(' ')).toHaveLength(1);
      expect(run.stderr).toMatch(pattern);
    }
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
