/**
 * The `clusterkv` command. Each subcommand lives in src/cli/commands/<name>.ts and exports register(program).
 * User errors (UserError, BackendError, TraceError, RangeError from parameter validation) print one line and exit 1.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { commandModules } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('clusterkv')
    .description('ClusterKV Lab: replay attention traces through ClusterKV and baselines, run real models, time GPU kernels')
    .showHelpAfterError()
    .exitOverride();
  for (const mod of commandModules) mod.register(program);
  return program;
}

/** Errors that are the user's doing: one clear line, no stack. */
export function isUserFacing(err: unknown): err is Error {
  return err instanceof Error && (err instanceof UserError || err instanceof RangeError || ['UserError', 'BackendError', 'TraceError', 'ModelError', 'CheckpointError'].includes(err.name));
}

export async function main(argv: string[]): Promise<number> {
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
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`clusterkv: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 70;
  },
);
