/**
 * The `clusterkv` program: each subcommand lives in src/cli/commands/<name>.ts and exports register(program).
 * Every error a user can cause prints one line `clusterkv: <message>` and exits 1 (describeError in errors.ts):
 * usage errors add a pointer to the command's --help instead of printing the help; anything else is an
 * internal error with its stack (exit 70).
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { describeError, isBackendFailure, UserError } from './errors.js';
import { commandLoaders } from './commands/index.js';

/** Where the backend of this run was asked for (`--backend webgpu` or `CLUSTERKV_BACKEND=webgpu`), for error lines. */
let backendSource: string | undefined;

/** The program with the command named by argv[0] registered, or every command when it names none known. */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('clusterkv')
    .description('ClusterKV Lab: replay attention traces through ClusterKV and baselines, run real models, time GPU kernels')
    .version(`clusterkv-lab ${VERSION}`, '-V, --version', 'print the version')
    // runCli prints usage errors as one line; commander's own text (and the help after it) stays silent
    .configureOutput({ outputError: () => {} })
    .exitOverride()
    .hook('preAction', async (_program, action) => checkBackendChoice(action));
  const name = argv[0];
  const names = name !== undefined && name in commandLoaders ? [name] : Object.keys(commandLoaders);
  for (const n of names) (await commandLoaders[n]()).register(program);
  return program;
}

/**
 * tfjs's console notes (the cpu backend's "install tfjs-node" banner) are silenced for every command, so
 * that the output is the command's own and an error stays one line. For commands that run tfjs: an unknown
 * backend name fails before any work, naming where it came from (flag or environment).
 */
async function checkBackendChoice(action: Command): Promise<void> {
  backendSource = undefined;
  const tf = await import('@tensorflow/tfjs-core');
  tf.env().set('PROD', true);
  if (!action.options.some((o) => o.long === '--backend')) return;
  const flag = action.opts().backend as string | undefined;
  const env = process.env.CLUSTERKV_BACKEND;
  const asked = flag ?? (env === '' ? undefined : env);
  if (asked === undefined) return;
  backendSource = flag !== undefined ? `--backend ${flag}` : `CLUSTERKV_BACKEND=${env}`;
  const { BACKEND_NAMES } = await import('../gpu/backend.js');
  if (!(BACKEND_NAMES as readonly string[]).includes(asked)) {
    throw new UserError(`${backendSource}: unknown backend (expected one of ${BACKEND_NAMES.join(', ')})`);
  }
}

/** The active tfjs backend, when tfjs is loaded (for the line of a backend failure). */
async function activeBackend(): Promise<string | undefined> {
  try {
    const tf = await import('@tensorflow/tfjs-core');
    return tf.getBackend() || undefined;
  } catch {
    return undefined;
  }
}

/** The command argv names, down to its deepest subcommand (`clusterkv eval passkey`), for the --help pointer. */
function commandPath(program: Command | undefined, argv: string[]): string {
  const words = ['clusterkv'];
  let command = program;
  for (const arg of argv) {
    const sub = command?.commands.find((c) => c.name() === arg);
    if (!sub) break;
    words.push(sub.name());
    command = sub;
  }
  return words.join(' ');
}

/** commander's error as one line with a pointer to --help; exit 0 for --help and --version. */
function usageError(err: CommanderError, argv: string[], program: Command | undefined): number {
  if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  if (err.code === 'commander.help') return 1; // no command given: commander printed the overview
  const command = commandPath(program, argv);
  process.stderr.write(`clusterkv: ${err.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ')} (see ${command} --help)\n`);
  return 1;
}

/** Runs the program on argv (without node and script); resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let program: Command | undefined;
  try {
    program = await buildProgram(argv);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return usageError(err, argv, program);
    if (err instanceof Error && err.name === 'BackendError' && backendSource && !err.message.startsWith(backendSource)) {
      err.message = `${backendSource}: ${err.message}`;
    }
    const { line, exitCode } = describeError(err, isBackendFailure(err) ? await activeBackend() : undefined);
    process.stderr.write(`${line}\n`);
    return exitCode;
  }
}
