/**
 * Child process of the fuzzers (test/cli/fuzz.test.ts, test/cli/fuzz-model.test.ts): runs `clusterkv`
 * argvs in process (runCli, as bin/clusterkv.js does), from a given index on, and reports one JSON line per
 * run on fd 1 ("start" before, the result after), so the parent can tell a hang (no line for long) from a
 * crash (the process dies) and restart after either.
 *   node --import tsx test/helpers/fuzz-runner.ts RUNS.json FIRST_RUN
 * RUNS.json: [{ name, argv }]. The trace fuzzer's runs are its variants x info, sweep and export (fuzzArgs).
 */
import { readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { runCliCaptured as captured } from './cli.js';

export const FUZZ_COMMANDS = ['info', 'sweep', 'export'] as const;

/** The trace fuzzer's argv of one command on one variant file. */
export function fuzzArgs(command: (typeof FUZZ_COMMANDS)[number], file: string, work: string): string[] {
  if (command === 'info') return ['info', file];
  if (command === 'sweep') return ['sweep', file, '--out', path.join(work, 'sweep'), '--methods', 'oracle,clusterkv', '--budgets', '8', '--clusters', '2', '--backend', 'cpu', '--quiet'];
  return ['export', file, '--out', path.join(work, 'export.safetensors'), '--dtype', 'F32'];
}

async function main(): Promise<void> {
  const [runsFile, first] = process.argv.slice(2);
  const runs = JSON.parse(readFileSync(runsFile, 'utf8')) as { name: string; argv: string[] }[];
  const report = (line: unknown) => writeSync(1, `${JSON.stringify(line)}\n`);
  for (let run = Number(first); run < runs.length; run++) {
    report({ event: 'start', run });
    const t0 = Date.now();
    const r = await captured(runs[run].argv);
    report({ event: 'done', run, code: r.code, stderr: r.stderr, ms: Date.now() - t0 });
  }
  report({ event: 'end' });
}

if (process.argv[1]?.endsWith(path.join('helpers', 'fuzz-runner.ts'))) {
  main().catch((err) => {
    writeSync(2, `fuzz-runner: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(3);
  });
}
