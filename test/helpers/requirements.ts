/**
 * Tests that need something outside Node (Chromium for PNG output, python3 with numpy for the Python trace
 * reader, Redis for queued sweeps, the software WebGPU adapter for the WGSL kernels). Where it is missing they
 * are skipped, and each skip is recorded (recordSkip) in .vitest-skips so that `npm test`
 * (scripts/run-tests.mjs) closes with one line per missing thing: how many tests it skipped and how to get
 * it. CLUSTERKV_TEST_ALL=1 (.ci/run sets it) runs them regardless: there a missing package fails the test.
 * CLUSTERKV_TEST_REPORT_DIR moves .vitest-skips (and run-tests' report) elsewhere (a nested run in a test).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { chromiumPath } from '../../src/plot/png.js';

export const SKIP_FILE = path.join(process.env.CLUSTERKV_TEST_REPORT_DIR ?? path.join(__dirname, '..', '..'), '.vitest-skips');

/** Whether CLUSTERKV_TEST_ALL=1 asks every test to run (a missing requirement then fails it). */
export function testAll(): boolean {
  return process.env.CLUSTERKV_TEST_ALL === '1';
}

/**
 * Records that the tests of this file (all of them, or those whose full name contains `test`) skip because
 * `what` is missing; `fix` says how to get it. Call it while the file is collected.
 */
export function recordSkip(what: string, fix: string, test?: string): void {
  appendFileSync(SKIP_FILE, `${JSON.stringify({ what, fix, file: expect.getState().testPath, test })}\n`);
}

interface Requirement {
  /** what is missing, for the skip line */
  what: string;
  /** the Debian package that provides it */
  apt: string;
  present(): boolean;
}

/** python3 with numpy: $PYTHON, python3 on PATH or Debian's /usr/bin/python3, the first that imports numpy. */
export function pythonWithNumpy(): string | undefined {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  return candidates.find((c) => spawnSync(c, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0);
}

export const REQUIREMENTS = {
  chromium: {
    what: 'Chromium',
    apt: 'chromium',
    present() {
      try {
        chromiumPath();
        return true;
      } catch {
        return false;
      }
    },
  },
  numpy: { what: 'python3 with numpy', apt: 'python3-numpy', present: () => pythonWithNumpy() !== undefined },
} satisfies Record<string, Requirement>;

const checked = new Map<string, boolean>();

/** it(name, fn) when `need` is present here (or CLUSTERKV_TEST_ALL=1), else a recorded skip. */
export function itNeeds(need: keyof typeof REQUIREMENTS, name: string, fn: () => unknown, timeout?: number): void {
  const req: Requirement = REQUIREMENTS[need];
  if (!checked.has(need)) checked.set(need, req.present());
  if (checked.get(need) || testAll()) {
    it(name, fn, timeout);
    return;
  }
  recordSkip(req.what, `apt-get install -y --no-install-recommends ${req.apt}`, name);
  it.skip(`${name} (needs ${req.what}: apt-get install ${req.apt})`, fn);
}
