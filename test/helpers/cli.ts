/** Running the `clusterkv` command in tests: in process (runCli, fast) or as a user does (node bin/clusterkv.js). */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import path from 'node:path';
import { format } from 'node:util';
import { runCli } from '../../src/cli/program.js';

/** The project root: vitest and the fuzz runner both run there. */
export const root = process.cwd();

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runCli(argv) with process.stdout, process.stderr and console captured (vitest routes console elsewhere). */
export async function runCliCaptured(argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write, log: console.log, info: console.info, error: console.error, warn: console.warn };
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  console.log = console.info = (...args: unknown[]) => void out.push(`${format(...args)}\n`);
  console.error = console.warn = (...args: unknown[]) => void err.push(`${format(...args)}\n`);
  try {
    const code = await runCli(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    Object.assign(console, { log: saved.log, info: saved.info, error: saved.error, warn: saved.warn });
  }
}

/** node bin/clusterkv.js ARGS; `asUser` runs it as nobody through setpriv (root passes every permission check). */
export function clusterkvProcess(args: string[], opts: { env?: Record<string, string>; asNobody?: boolean; cwd?: string } = {}): CliRun {
  const node = [process.execPath, path.join(root, 'bin', 'clusterkv.js'), ...args];
  const argv = opts.asNobody ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', ...node] : node;
  const options: SpawnSyncOptions = { cwd: opts.cwd ?? root, encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: 120_000 };
  const run = spawnSync(argv[0], argv.slice(1), options);
  return { code: run.status, stdout: String(run.stdout), stderr: String(run.stderr) };
}
