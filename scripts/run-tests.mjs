// Runs vitest with its JSON reporter and closes with the plain line CI reads:
// "N passed, N failed" (a suite that fails to load counts as one failure). Tests skipped for a missing system
// package (test/helpers/requirements.ts records them in .vitest-skips) get one line naming the apt packages.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const jsonPath = '.vitest-results.json';
const skipsPath = '.vitest-skips';
rmSync(jsonPath, { force: true });
rmSync(skipsPath, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonPath}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(jsonPath, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests;
  skipped = report.numPendingTests + (report.numTodoTests ?? 0);
  for (const suite of report.testResults) {
    const suiteFailed = suite.status === 'failed' && suite.assertionResults.every((a) => a.status !== 'failed');
    if (suiteFailed) failed += 1;
  }
} catch (err) {
  console.error(`run-tests: no JSON report from vitest (${err.message})`);
  failed += 1;
}
if (existsSync(skipsPath)) {
  const skips = readFileSync(skipsPath, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const tests = new Set(skips.map((s) => `${s.apt}\u0000${s.test}`)).size;
  const packages = [...new Set(skips.map((s) => s.apt))];
  const what = [...new Set(skips.map((s) => s.what))];
  console.log(`skipped ${tests} test(s) that need ${what.join(' and ')}: apt-get install -y --no-install-recommends ${packages.join(' ')} (.ci/run installs them and runs every test)`);
  rmSync(skipsPath, { force: true });
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || run.status !== 0 ? 1 : 0);
