/**
 * npm test's closing lines (scripts/run-tests.mjs, issue 22 item 7): every skipped test is explained there,
 * one line per missing thing with its count and how to get it; Redis skips included, not only mentioned once
 * mid-run. Checked on a nested run of two real test files with Redis and Chromium made unreachable.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');

describe('npm test closing lines', () => {
  it('name why every skipped test skipped: Redis and Chromium, counted', () => {
    const env: Record<string, string | undefined> = { ...process.env, CLUSTERKV_TEST_REDIS: 'redis://127.0.0.1:1/0', CLUSTERKV_CHROMIUM: path.join(tempDir(), 'no-chromium'), CLUSTERKV_TEST_REPORT_DIR: tempDir('ckv-nested-report-') };
    delete env.CLUSTERKV_TEST_ALL;
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'run-tests.mjs'), 'test/sim/sweep-queue.test.ts', 'test/plot/writers.test.ts'], { cwd: root, encoding: 'utf8', env, timeout: 300_000 });
    const lines = run.stdout.trim().split('\n');
    const closing = lines.at(-1)!;
    expect(run.status, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    const total = Number(/^\d+ passed, 0 failed, (\d+) skipped$/.exec(closing)?.[1]);
    const redis = lines.find((l) => l.startsWith('skipped ') && l.includes('need Redis at redis://127.0.0.1:1/0: apt-get install'));
    const chromium = lines.find((l) => l.startsWith('skipped ') && l.includes('need Chromium: apt-get install -y --no-install-recommends chromium'));
    expect(redis, lines.slice(-8).join('\n')).toBeDefined();
    expect(chromium, lines.slice(-8).join('\n')).toBeDefined();
    const count = (l: string) => Number(/^skipped (\d+) test/.exec(l)![1]);
    expect(count(redis!)).toBeGreaterThanOrEqual(5);
    expect(count(chromium!)).toBe(1);
    expect(count(redis!) + count(chromium!)).toBe(total);
    expect(run.stdout).not.toContain('no recorded reason');
  }, 300_000);
});
