/**
 * Child process of the fuzzer (test/cli/fuzz.test.ts): runs `clusterkv info`, `sweep` and `export` in
 * process (runCli, as bin/clusterkv.js does) on each variant file of a folder, from a given index on, and
 * reports one JSON line per run on fd 1 ("start" before, the result after), so the parent can tell a hang
 * (no line for long) from a crash (the process dies) and restart after either.
 *   node --import tsx test/helpers/fuzz-runner.ts VARIANTS_DIR WORK_DIR FIRST_RUN
 * FIRST_RUN counts runs: variant FIRST_RUN / 3, command FIRST_RUN % 3.
 */
import { readdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { runCliCaptured as captured } from './cli.js';

const FUZZ_COMMANDS = ['info', 'sweep', 'export'] as const;

function fuzzArgs(command: (typeof FUZZ_COMMANDS)[number], file: string, work: string): string[] {
  if (command === 'info') return ['info', file];
  if (command === 'sweep') return ['sweep', file, '--out', path.join(work, 'sweep'), '--methods', 'oracle,clusterkv', '--budgets', '8', '--clusters', '2', '--backend', 'cpu', '--quiet'];
  return ['export', file, '--out', path.join(work, 'export.safetensors'), '--dtype', 'F32'];
}

async function main(): Promise<void> {
  const [dir, work, first] = process.argv.slice(2);
  const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  const report = (line: unknown) => writeSync(1, `${JSON.stringify(line)}\n`);
  for (let run = Number(first); run < files.length * FUZZ_COMMANDS.length; run++) {
    const i = Math.floor(run / FUZZ_COMMANDS.length);
    const command = FUZZ_COMMANDS[run % FUZZ_COMMANDS.length];
    report({ event: 'start', run, index: i, command });
    const t0 = Date.now();
    const r = await captured(fuzzArgs(command, path.join(dir, files[i]), path.join(work, String(i))));
    report({ event: 'done', run, index: i, command, code: r.code, stderr: r.stderr, ms: Date.now() - t0 });
  }
  report({ event: 'end' });
}

main().catch((err) => {
  writeSync(2, `fuzz-runner: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(3);
});
