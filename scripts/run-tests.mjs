// Runs vitest with its JSON reporter and closes with the plain line CI reads:
// "N passed, N failed" (a suite that fails to load counts as one failure). Every skipped test is explained
// before it: the helpers of test/helpers/ record why a file or test skips (.vitest-skips: Chromium, numpy,
// Redis, the software WebGPU adapter), and each reason gets one line with its count and how to get what is
// missing; a skip nobody recorded is named as such. CLUSTERKV_TEST_REPORT_DIR moves the report files.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const reportDir = process.env.CLUSTERKV_TEST_REPORT_DIR ?? '.';
const jsonPath = path.join(reportDir, '.vitest-results.json');
const skipsPath = path.join(reportDir, '.vitest-skips');
rmSync(jsonPath, { force: true });
rmSync(skipsPath, { force: true });
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonPath}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
/** every skipped test: its file and full name */
const skippedTests = [];
try {
  const report = JSON.parse(readFileSync(jsonPath, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests;
  skipped = report.numPendingTests + (report.numTodoTests ?? 0);
  for (const suite of report.testResults) {
    const suiteFailed = suite.status === 'failed' && suite.assertionResults.every((a) => a.status !== 'failed');
    if (suiteFailed) failed += 1;
    for (const a of suite.assertionResults) {
      if (['pending', 'skipped', 'todo'].includes(a.status)) skippedTests.push({ file: path.resolve(suite.name), name: a.fullName ?? a.title });
    }
  }
} catch (err) {
  console.error(`run-tests: no JSON report from vitest (${err.message})`);
  failed += 1;
}
const records = existsSync(skipsPath) ? readFileSync(skipsPath, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)) : [];
rmSync(skipsPath, { force: true });
/** reason -> { fix, tests } */
const reasons = new Map();
const unexplained = [];
for (const t of skippedTests) {
  const record = records.find((r) => path.resolve(r.file) === t.file && (r.test === undefined || t.name.includes(r.test)));
  if (!record) {
    unexplained.push(`${path.relative(process.cwd(), t.file)} > ${t.name}`);
    continue;
  }
  const entry = reasons.get(record.what) ?? { fix: record.fix, tests: 0 };
  entry.tests += 1;
  reasons.set(record.what, entry);
}
for (const [what, { fix, tests }] of reasons) console.log(`skipped ${tests} test(s) that need ${what}: ${fix}`);
if (unexplained.length) console.log(`skipped ${unexplained.length} test(s) with no recorded reason: ${unexplained.join('; ')}`);
if (reasons.size) console.log('(.ci/run installs all of them and runs every test)');
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || run.status !== 0 ? 1 : 0);
