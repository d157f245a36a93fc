/**
 * The `clusterkv` program: each subcommand lives in src/cli/commands/<name>.ts and exports register(program).
 * User errors (UserError, RangeError from parameter validation, TraceError, BackendError, ...) print one line
 * `clusterkv: <message>` and exit 1; anything else is an internal error with its stack (exit 70).
 */
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { commandLoaders } from './commands/index.js';

const USER_ERROR_NAMES = ['UserError', 'BackendError', 'TraceError', 'ModelError', 'CheckpointError', 'RangeError', 'ZodError', 'ResultsFolderError'];

/** The program with the command named by argv[0] registered, or every command when it names none known. */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('clusterkv')
    .description('ClusterKV Lab: replay attention traces through ClusterKV and baselines, run real models, time GPU kernels')
    .showHelpAfterError()
    .exitOverride();
  const name = argv[0];
  const names = name !== undefined && name in commandLoaders ? [name] : Object.keys(commandLoaders);
  for (const n of names) (await commandLoaders[n]()).register(program);
  return program;
}

export function isUserFacing(err: unknown): err is Error {
  return err instanceof UserError || err instanceof RangeError || (err instanceof Error && USER_ERROR_NAMES.includes(err.name));
}

/** Runs the program on argv (without node and script); resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
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
