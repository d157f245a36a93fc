/**
 * The fresh-process runner of the benchmark suites (bench/run.ts): runs every job of a suite `processes`
 * times, each time in a new process, and keeps each run's JSON and log. Repetitions are the outer loop, so a
 * suite cut short by its deadline still has every job at least once; a process that fails, times out or
 * writes a file its check refuses is recorded with the reason and the others go on.
 * Why fresh processes: on the H200 kernel times drift over a process's life (bench/README.md), so the
 * suites time every configuration in several processes and merge them (merge-runs.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One configuration of a suite: a command run once per repetition. */
export interface ProcessJob {
  /** file stem of its runs: `<name>-<repetition>.json` and `.txt` */
  name: string;
  /** the command and its arguments; an argument `{out}` is replaced by the run's JSON file */
  argv: string[];
  env?: Record<string, string>;
}

export interface FreshProcessOptions {
  /** folder of the runs' JSON files and logs (made if missing) */
  dir: string;
  /** repetitions of every job (>= 1) */
  processes: number;
  /** a process running longer is killed (seconds; undefined: no limit) */
  timeoutS?: number;
  /** no process starts later than this many seconds after the first (undefined: no deadline) */
  deadlineS?: number;
  /** checks a run's JSON (throws why it is unusable) */
  check?: (file: string) => void;
  /** after every process (e.g. to pack the folder so far) */
  onEnd?: (result: ProcessResult) => void;
  /** progress lines */
  log?: (line: string) => void;
  /** lines of a process's log shown after it ends [6] */
  tail?: number;
}

export interface ProcessResult {
  job: string;
  repetition: number;
  /** the run's JSON file (written by the process; present when ok) */
  file: string;
  /** the process's stdout and stderr */
  logFile: string;
  /** exit code (null: killed or never started) */
  exitCode: number | null;
  seconds: number;
  ok: boolean;
  /** why it is not ok */
  reason?: string;
}

/** Lines of a log worth showing: tfjs's and the GPU stack's warnings left out. */
function tailOf(logFile: string, n: number): string[] {
  if (!existsSync(logFile) || n <= 0) return [];
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() && !/^Warning|artificially/.test(l)).slice(-n);
}

function runOne(job: ProcessJob, file: string, logFile: string, timeoutS: number | undefined): Promise<{ exitCode: number | null; timedOut: boolean; error?: string }> {
  const argv = job.argv.map((a) => (a === '{out}' ? file : a));
  const fd = openSync(logFile, 'w');
  return new Promise((resolve) => {
    let timedOut = false;
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, ...job.env } });
    const timer = timeoutS === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    const done = (r: { exitCode: number | null; error?: string }) => {
      if (timer) clearTimeout(timer);
      closeSync(fd);
      resolve({ ...r, timedOut });
    };
    child.once('error', (err) => done({ exitCode: null, error: err.message }));
    child.once('exit', (code) => done({ exitCode: code }));
  });
}

/** Runs every job `processes` times in fresh processes; resolves to one result per (repetition, job). */
export async function runFreshProcesses(jobs: readonly ProcessJob[], opts: FreshProcessOptions): Promise<ProcessResult[]> {
  if (!Number.isInteger(opts.processes) || opts.processes < 1) throw new RangeError(`processes must be a positive integer, got ${opts.processes}`);
  mkdirSync(opts.dir, { recursive: true });
  const log = opts.log ?? (() => {});
  const start = Date.now();
  const results: ProcessResult[] = [];
  for (let repetition = 1; repetition <= opts.processes; repetition++) {
    for (const job of jobs) {
      const stem = path.join(opts.dir, `${job.name}-${repetition}`);
      const result: ProcessResult = { job: job.name, repetition, file: `${stem}.json`, logFile: `${stem}.txt`, exitCode: null, seconds: 0, ok: false };
      if (opts.deadlineS !== undefined && (Date.now() - start) / 1000 >= opts.deadlineS) {
        result.reason = `not started: past the ${opts.deadlineS} s deadline`;
        log(`== ${job.name}-${repetition}: ${result.reason}`);
      } else {
        const t0 = Date.now();
        const run = await runOne(job, result.file, result.logFile, opts.timeoutS);
        result.exitCode = run.exitCode;
        result.seconds = (Date.now() - t0) / 1000;
        const last = tailOf(result.logFile, 1)[0] ?? '';
        if (run.error) result.reason = `could not start: ${run.error}`;
        else if (run.timedOut) result.reason = `timed out after ${opts.timeoutS} s`;
        else if (!existsSync(result.file)) result.reason = `exit ${run.exitCode}, no JSON written${last ? `: ${last.trim()}` : ''}`;
        else {
          try {
            opts.check?.(result.file);
            result.ok = true;
          } catch (err) {
            result.reason = (err as Error).message;
          }
        }
        log(`== ${job.name}-${repetition}: exit ${run.exitCode ?? '-'} in ${result.seconds.toFixed(1)} s${result.ok ? '' : ` (not used: ${result.reason})`}`);
        for (const line of tailOf(result.logFile, opts.tail ?? 6)) log(`   ${line}`);
      }
      results.push(result);
      opts.onEnd?.(result);
    }
  }
  return results;
}
