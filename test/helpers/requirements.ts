/**
 * Tests that need a system package (Chromium for PNG output, python3 with numpy for the Python trace reader).
 * Where the package is missing they are skipped, and each skip is recorded in .vitest-skips so that `npm test`
 * (scripts/run-tests.mjs) prints one line naming the apt packages. CLUSTERKV_TEST_ALL=1 (.ci/run sets it)
 * runs them regardless: there a missing package fails the test.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'vitest';
import { chromiumPath } from '../../src/plot/png.js';

export const SKIP_FILE = path.join(__dirname, '..', '..', '.vitest-skips');

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
  if (checked.get(need) || process.env.CLUSTERKV_TEST_ALL === '1') {
    it(name, fn, timeout);
    return;
  }
  appendFileSync(SKIP_FILE, `${JSON.stringify({ what: req.what, apt: req.apt, test: name })}\n`);
  it.skip(`${name} (needs ${req.what}: apt-get install ${req.apt})`, fn);
}
