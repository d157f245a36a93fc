/**
 * Errors a user can cause, and how the CLI words them: one line naming the file or option, exit 1.
 * - UserError: bad flag, missing or malformed input;
 * - Node's errno errors (EISDIR, EACCES, ENOENT, ENOSPC, ...) become one line naming the path;
 * - checkOutputFolder / checkOutputFile test where a command will write BEFORE it computes anything;
 * - describeError turns any error into the line the CLI prints and its exit code.
 */
import { accessSync, constants, existsSync, mkdtempSync, realpathSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** An error caused by the user's input (bad flag, missing or malformed file): printed as one line, exit 1, no stack. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Errors of the lower layers that input causes (they carry a message meant for the user); matched by name. */
const USER_ERROR_NAMES = ['UserError', 'BackendError', 'TraceError', 'ModelError', 'CheckpointError', 'PlotError', 'RangeError', 'ZodError', 'ResultsFolderError'];

/** What an errno code means to a user: the codes a user's paths, permissions or disk can cause. */
const ERRNO_TEXT: Record<string, string> = {
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EBUSY: 'resource busy',
  EXDEV: 'cannot move across file systems',
};

export function isErrnoError(err: unknown): err is NodeJS.ErrnoException {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && code in ERRNO_TEXT;
}

/**
 * One line for an errno error: `[option ]path: meaning`. The path is the one given, else the error's own
 * (the temp name of an atomic write reduced to its target), else the meaning and Node's message.
 */
export function errnoMessage(err: NodeJS.ErrnoException, where: { path?: string; option?: string } = {}): string {
  const meaning = ERRNO_TEXT[err.code ?? ''] ?? err.code ?? 'error';
  const raw = where.path ?? err.path ?? (err as { dest?: string }).dest;
  const file = raw === undefined ? undefined : String(raw).replace(/\.(tmp-\d+|partial)$/, '');
  const subject = [where.option, file].filter(Boolean).join(' ');
  if (subject) return `${subject}: ${meaning}`;
  return `${meaning} (${firstLine(err.message)})`;
}

/** The nearest folder at or above `p` that exists (`p` itself when it exists). */
function nearestExisting(p: string): string {
  let dir = path.resolve(p);
  while (!existsSync(dir)) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

/**
 * Checks that `folder` is a folder this process can write into, or can be created: it exists as a folder, or
 * its nearest existing ancestor is a writable folder. `shown` names the output in the error. Creates nothing
 * that stays (a temp folder is made and removed: the one sure test, as root passes every access check).
 */
function checkWritable(folder: string, shown: string, option: string): void {
  const existing = nearestExisting(folder);
  if (!statSync(existing).isDirectory()) {
    throw new UserError(`${option} ${shown}: ${existing === path.resolve(shown) ? 'is a file, not a folder' : `${existing} is a file, not a folder`}`);
  }
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
    rmdirSync(mkdtempSync(path.join(existing, '.clusterkv-write-check-')));
  } catch (err) {
    if (!isErrnoError(err)) throw err;
    const where = existing === path.resolve(shown) ? '' : ` (in ${existing})`;
    throw new UserError(`${option} ${shown}: cannot write there${where}: ${ERRNO_TEXT[err.code!]}`);
  }
}

/** Before any work: `dir` is a writable folder or can be created (see checkWritable). */
export function checkOutputFolder(dir: string, option = '--out'): void {
  checkWritable(dir, dir, option);
}

/** Before any work: `file` is not a folder, and its folder is writable or can be created. */
export function checkOutputFile(file: string, option = '--out'): void {
  if (existsSync(file) && statSync(file).isDirectory()) throw new UserError(`${option} ${file}: is a folder, not a file`);
  checkWritable(path.dirname(path.resolve(file)), file, option);
}

/** Before any work: `output` is not the file `input` (the same path, or a link to it), which writing would destroy. */
export function checkNotInput(output: string, input: string, option = '--out'): void {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : path.resolve(p));
  if (real(output) === real(input)) throw new UserError(`${option} ${output}: is the input ${input}; writing there would destroy it, so choose another file`);
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}

/** Errors that a tfjs backend or the GPU below it raised (device lost, out of memory, a failed buffer read). */
export function isBackendFailure(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  if (/^(GPU\w*Error|OperationError|AbortError)$/.test(err.name)) return true;
  // the frame that threw: inside a backend package (its own path, or its sources through the source map) or
  // Dawn's bindings, not our code or tfjs-core
  const frame = (err.stack ?? '').split('\n').find((l) => /^\s+at /.test(l)) ?? '';
  return /tfjs-(backend-webgpu|backend-wasm|node|node-gpu)[\\/]|node_modules[\\/]webgpu[\\/]/.test(frame);
}

/** The engine's own RangeErrors when an allocation is too large: input size, not a bad value. */
const OUT_OF_MEMORY = /^(Invalid typed array length|Array buffer allocation failed|Invalid array length|Invalid string length)/;

export interface DescribedError {
  /** the line printed on stderr, without the trailing newline */
  line: string;
  /** 1: the user can fix it; 70: an internal error (the line then carries the stack) */
  exitCode: 1 | 70;
}

/**
 * The line the CLI prints for an error and its exit code. User-caused errors are one line `clusterkv: ...`
 * (a message that already starts with `clusterkv: `, from the method of that name, is not prefixed twice);
 * `backend` names the active tfjs backend for backend failures.
 */
export function describeError(err: unknown, backend?: string): DescribedError {
  if (err instanceof RangeError && OUT_OF_MEMORY.test(err.message)) {
    return { line: `clusterkv: out of memory: the data is too large for this process (${firstLine(err.message)}); choose fewer layers, steps or a shorter context`, exitCode: 1 };
  }
  if (err instanceof Error && (err instanceof UserError || err instanceof RangeError || USER_ERROR_NAMES.includes(err.name))) {
    const message = err.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
    return { line: `clusterkv: ${message.replace(/^clusterkv: /, "method 'clusterkv': ")}`, exitCode: 1 };
  }
  if (isErrnoError(err)) return { line: `clusterkv: ${errnoMessage(err)}`, exitCode: 1 };
  if (isBackendFailure(err)) {
    return {
      line: `clusterkv: the ${backend ?? 'tfjs'} backend failed: ${firstLine(err.message) || err.name} (a GPU, driver or memory limit; clusterkv doctor checks the backends, --backend cpu avoids the GPU)`,
      exitCode: 1,
    };
  }
  return { line: `clusterkv: internal error: ${err instanceof Error ? err.stack : String(err)}`, exitCode: 70 };
}
