/**
 * The `clusterkv` program: each subcommand lives in src/cli/commands/<name>.ts and exports register(program).
 * User errors (UserError, RangeError from parameter validation, TraceError, BackendError, ...) print one line
 * `clusterkv: <message>` and exit 1; anything else is an internal error with its stack (exit 70).
 */
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { commandModules } from './commands/index.js';

const USER_ERROR_NAMES = ['UserError', 'BackendError', 'TraceError', 'ModelError', 'CheckpointError', 'RangeError', 'ZodError'];

export function buildProgram(): Command {
  const program = new Command('clusterkv')
    .description('ClusterKV Lab: replay attention traces through ClusterKV and baselines, run real models, time GPU kernels')
    .showHelpAfterError()
    .exitOverride();
  for (const mod of commandModules) mod.register(program);
  return program;
}

export function isUserFacing(err: unknown): err is Error {
  return err instanceof UserError || err instanceof RangeError || (err instanceof Error && USER_ERROR_NAMES.includes(err.name));
}

/** Runs the program on argv (without node and script); resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (isUserFacing(err)) {
      process.stderr.write(`clusterkv: ${err.message}\n`);
      return 1;
    }
    if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`clusterkv: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`clusterkv: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return 70;
  }
}
