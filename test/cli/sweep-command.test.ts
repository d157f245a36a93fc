/**
 * `clusterkv sweep` as a user reads it (issue 22): progress counts a unit the summary names (item 10: the
 * lines counted 1/48 while the summary said "6 cell-layers"), counts read "1 cell", and a column mixes no
 * number formats (item 13).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

let trace: string;

beforeAll(async () => {
  trace = await smallTrace({ layers: 2, steps: 4 });
});

afterEach(() => {
  delete process.env.CLUSTERKV_PROGRESS;
});

describe('clusterkv sweep output', () => {
  it('progress lines count cell-layer steps, and the summary says how many cell-layers of how many steps', async () => {
    process.env.CLUSTERKV_PROGRESS = 'lines';
    const run = await runCliCaptured(['sweep', trace, '--out', tempDir(), '--methods', 'full,oracle', '--budgets', '64,128', '--param', 'denseLayers=0', '--jobs', '1', '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    const progress = run.stderr.trim().split('\n');
    // 3 cells x 2 layers x 4 decode steps
    expect(progress.at(-1)).toBe('sweep 24/24 cell-layer steps');
    expect(progress.every((l) => /^sweep \d+\/24 cell-layer steps$/.test(l))).toBe(true);
    expect(run.stdout).toContain('3 cells (6 cell-layers of 4 decode steps computed, 0 already done) on cpu');
    // full's recall of exactly 1 in the same format as oracle's fractions
    const full = run.stdout.split('\n').find((l) => /^\s*full\s/.test(l))!;
    expect(full.trim().split(/\s+/).slice(1, 3)).toEqual(['1.000', '1.000']);
  });

  it('one cell of one layer reads "1 cell (1 cell-layer of 4 decode steps"', async () => {
    const run = await runCliCaptured(['sweep', trace, '--out', tempDir(), '--methods', 'oracle', '--budgets', '64', '--layers', '1', '--param', 'denseLayers=0', '--jobs', '1', '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('1 cell (1 cell-layer of 4 decode steps computed, 0 already done)');
  });

  it('a budget at or above the prompt says in one warning line that it attends densely (issue 22, item 12)', async () => {
    const run = await runCliCaptured(['sweep', trace, '--out', tempDir(), '--methods', 'oracle', '--budgets', '64,764,2048', '--layers', '1', '--param', 'denseLayers=0', '--jobs', '1', '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(`clusterkv: warning: --budgets 764,2048: at or above the 764 prompt positions of ${trace}, so those budgets select every position (dense attention, recall 1); budgets below 764 compare methods\n`);
    const quiet = await runCliCaptured(['sweep', trace, '--out', tempDir(), '--methods', 'oracle', '--budgets', '763', '--layers', '1', '--param', 'denseLayers=0', '--jobs', '1', '--backend', 'cpu']);
    expect(quiet.stderr).toBe('');
  });
});
