/**
 * The consumer test (scripts/consumer-test.mjs: the README's install block in a fresh project that installs
 * the packed tarball, every command checked against the checkout's) inside npm test when
 * CLUSTERKV_TEST_CONSUMER=1. It installs from the npm registry and takes a minute or two, so npm test skips
 * it otherwise (its closing lines say so); .ci/run runs the script itself.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordSkip } from '../helpers/requirements.js';

const root = path.join(__dirname, '..', '..');
const asked = process.env.CLUSTERKV_TEST_CONSUMER === '1';
const NAME = 'the README install block in a fresh project that installs the packed tarball';
if (!asked) recordSkip('CLUSTERKV_TEST_CONSUMER=1 (it installs from the npm registry, 1-2 min)', 'node scripts/consumer-test.mjs runs it (.ci/run does)', NAME);

describe('consumer test', () => {
  it.runIf(asked)(NAME, () => {
    const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'consumer-test.mjs')], { cwd: root, encoding: 'utf8', timeout: 900_000 });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^consumer test: passed, \d+ lines/);
  }, 900_000);
});
