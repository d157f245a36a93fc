// The fresh-process runner of the benchmark suites (src/sim/bench/fresh-processes.ts), with real node processes:
// repetitions as the outer loop, one JSON and one log per run, and every way a run can be unusable recorded
// with its reason while the others go on.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFreshProcesses, type ProcessJob, type ProcessResult } from '../../../src/sim/bench/fresh-processes.js';
import { tempDir } from '../../helpers/traces.js';

/** A node process running `code`, with the run's JSON file as process.argv[1]. */
const node = (name: string, code: string, env?: Record<string, string>): ProcessJob => ({ name, argv: [process.execPath, '-e', code, '{out}'], env });
const writes = (value: string) => `require('fs').writeFileSync(process.argv[1], JSON.stringify(${value})); console.log('done')`;

describe('fresh-process runner', () => {
  it('runs every job in every repetition, repetitions outermost, each in its own process', async () => {
    const dir = tempDir('ckv-fresh-');
    const ended: string[] = [];
    const results = await runFreshProcesses([node('a', writes('{ pid: process.pid, v: process.env.V }'), { V: 'x' }), node('b', writes('{ pid: process.pid }'))], { dir, processes: 3, onEnd: (r) => ended.push(`${r.job}-${r.repetition}`) });
    expect(results.map((r) => `${r.job}-${r.repetition}`)).toEqual(['a-1', 'b-1', 'a-2', 'b-2', 'a-3', 'b-3']);
    expect(ended).toEqual(results.map((r) => `${r.job}-${r.repetition}`));
    expect(results.every((r) => r.ok && r.exitCode === 0 && r.reason === undefined)).toBe(true);
    const runs = results.map((r) => JSON.parse(readFileSync(r.file, 'utf8')) as { pid: number; v?: string });
    expect(new Set(runs.map((r) => r.pid)).size).toBe(6);
    expect(runs[0].v).toBe('x');
    expect(path.basename(results[3].file)).toBe('b-2.json');
    expect(readFileSync(results[3].logFile, 'utf8')).toBe('done\n');
  });

  it('records a failed, timed-out, refused or late process with its reason and goes on', async () => {
    const dir = tempDir('ckv-fresh-');
    const lines: string[] = [];
    const check = (file: string) => {
      if ((JSON.parse(readFileSync(file, 'utf8')) as { good?: boolean }).good !== true) throw new Error(`${path.basename(file)}: not good`);
    };
    const jobs = [
      node('ok', writes('{ good: true }')),
      node('fails', "console.error('clusterkv: --model: no such file'); process.exit(3)"),
      node('refused', writes('{ good: false }')),
      node('slow', `setTimeout(() => { ${writes('{ good: true }')} }, 20000)`),
    ];
    const results = await runFreshProcesses(jobs, { dir, processes: 2, timeoutS: 3, deadlineS: 2.5, check, log: (l) => lines.push(l) });
    const byName = (name: string, rep: number) => results.find((r) => r.job === name && r.repetition === rep) as ProcessResult;
    expect(byName('ok', 1).ok).toBe(true);
    expect(byName('fails', 1)).toMatchObject({ ok: false, exitCode: 3, reason: 'exit 3, no JSON written: clusterkv: --model: no such file' });
    expect(byName('slow', 1).reason).toBe('timed out after 3 s');
    expect(byName('refused', 1).reason).toBe('refused-1.json: not good');
    // the slow one took the runner past its deadline: the second repetition starts nothing
    for (const name of ['ok', 'fails', 'refused', 'slow']) expect(byName(name, 2).reason).toBe('not started: past the 2.5 s deadline');
    expect(lines).toContain('== fails-1: exit 3 in ' + byName('fails', 1).seconds.toFixed(1) + ' s (not used: exit 3, no JSON written: clusterkv: --model: no such file)');
    expect(lines).toContain('   clusterkv: --model: no such file');
    const missing = await runFreshProcesses([{ name: 'none', argv: [path.join(dir, 'no-such-program')] }], { dir, processes: 1 });
    expect(missing[0].reason).toMatch(/^could not start: .*ENOENT/);
    await expect(runFreshProcesses([], { dir, processes: 0 })).rejects.toThrow(/processes must be a positive integer/);
  });
});
