/**
 * A benchmark suite and how the driver (bench/run.ts) runs one: the suite names its configurations (jobs, each
 * one command), the fresh-process runner (src/sim/bench/fresh-processes.ts) runs each of them `--processes`
 * times in new processes and checks every run's JSON against the schema of the suite's kind, and the one merge
 * (src/sim/bench/merge-runs.ts) joins the usable runs into `<suite>.json` (tune: `tune-<set>.json`), named
 * `<suite>-<backend>-<card>.json` where nvidia-smi names the card (cardName: the name to commit it under). Beside
 * them in the suite's folder: every run's JSON and log, `<suite>.md` (the merge's tables), `clocks.csv` (nvidia-smi's SM and memory clocks
 * every 250 ms, where there is an nvidia-smi) and `suite.json` (the card, the options, every process's exit
 * and reason). The suite's folder is `<suite>` in the results folder (--out) that every suite of a GPU
 * run shares; with --tar FILE that results folder is packed into FILE after every process, so that a device
 * call cut short still brings back what was done.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFreshProcesses, type ProcessJob, type ProcessResult } from '../src/sim/bench/fresh-processes.js';
import { mergeRunFiles, readRunFile, type AnyRunKind } from '../src/sim/bench/merge-runs.js';
import { writeFileAtomic } from '../src/sim/results-folder.js';

/** full: the GPU host's shapes; small: a dry run of the same steps (minutes on the software adapter); tiny: seconds (tests). */
export const BENCH_SIZES = ['full', 'small', 'tiny'] as const;
export type BenchSize = (typeof BENCH_SIZES)[number];

/** GPU heating of the kernel suites on webgpu, ms (the committed H200 runs: bench/README.md, the H200's clocks). */
export const DEFAULT_HEAT_MS = 100;

/** What one invocation of a suite was asked for. */
export interface SuiteRun {
  /** the suite's folder (<results>/<suite>, or the suite's label) */
  out: string;
  size: BenchSize;
  /** tfjs backend of the processes ('' where the suite has none) */
  backend: string;
  /** ms of GPU heating before each kernel's samples and every 10 samples (webgpu kernel suites) */
  heatMs: number;
  /** the suite's own options, as commander parsed them */
  options: Record<string, string | boolean | undefined>;
}

export interface Suite {
  name: string;
  description: string;
  /** fresh processes per configuration by default */
  processes: number;
  /** the tfjs backend by default (none: the suite has no --backend, e.g. PyTorch's) */
  backend?: string;
  /** the kind of its run files, which the merge joins (per run where it depends on the options) */
  kind: AnyRunKind | ((run: SuiteRun) => AnyRunKind);
  /** whether it heats the GPU (--heat-ms; webgpu kernel timings) */
  heats?: boolean;
  /** a process running longer is killed (seconds, at size full) */
  timeoutS?: number;
  /** no process starts after this many seconds (at size full) */
  deadlineS?: number;
  /** the suite's own options: [flags, description, default] */
  options?: [string, string, string?][];
  /** its configurations, each run once per repetition */
  jobs(run: SuiteRun): ProcessJob[];
  /**
   * work before the first process, once and untimed, in the suite's folder: what every job reads (e.g. a
   * random checkpoint written to disk) or a one-off report beside the runs (e.g. doctor --model); a failure
   * stops the suite before any process starts
   */
  prepare?(run: SuiteRun, log: (line: string) => void): Promise<void>;
  /** the name of its folder and merged file where it depends on the options (default: the suite's name) */
  label?(options: SuiteRun['options']): string;
  /** after the merge: more checks on the runs (e.g. the model suite against a reference run) */
  after?(run: SuiteRun, usable: string[], log: (line: string) => void, merged: string): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The folder above bench/: the repository in development, .gpu-build/ when compiled (tsconfig.gpu.json). */
const moduleRoot = path.dirname(here);
/** The sources' extension as this file runs: .ts through tsx, .js compiled. */
const ext = path.extname(fileURLToPath(import.meta.url));
/** The repository (the compiled tree sits in .gpu-build/ inside it). */
export const repoRoot = ext === '.ts' ? moduleRoot : path.dirname(moduleRoot);

/** A node command running a module of this repository the way this process runs (tsx's loader, or compiled JS). */
export function nodeCommand(module: 'cli' | 'driver', args: string[]): string[] {
  const file = module === 'cli' ? path.join(moduleRoot, 'src', 'cli', `main${ext}`) : path.join(moduleRoot, 'bench', `run${ext}`);
  return [process.execPath, ...process.execArgv, file, ...args];
}

/**
 * Runs `argv` once (a suite's untimed step, e.g. `doctor --model --json`), its stdout into `file`, its
 * stderr into `file`'s .txt beside it; a failure throws naming `what` and the last line it printed.
 */
export function runToFile(what: string, argv: string[], file: string, timeoutS: number): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 * 2 ** 20 });
  writeFileSync(file, r.stdout ?? '');
  writeFileSync(file.replace(/\.[a-z]+$/, '.txt'), r.stderr ?? '');
  if (r.status !== 0) {
    const last = String(r.stderr ?? '').trim().split('\n').filter(Boolean).at(-1) ?? '';
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`}): ${last}`);
  }
}

/** The machine the suite ran on: the GPU by nvidia-smi where there is one, the CPU, node. */
export function describeHost(): { gpu: string | null; cpu: string; cores: number; node: string } {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  const gpu = smi.status === 0 && smi.stdout.trim() ? smi.stdout.trim().split('\n').join('; ') : null;
  return { gpu, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), node: process.version };
}

/**
 * The short name of the card in result files (`kernels-webgpu-h200.json`): env CLUSTERKV_CARD, else the model
 * in nvidia-smi's name ('NVIDIA H100 80GB HBM3' -> 'h100'), else the name as a slug; undefined without a GPU.
 */
export function cardName(gpu: string | null = describeHost().gpu): string | undefined {
  if (process.env.CLUSTERKV_CARD) return process.env.CLUSTERKV_CARD;
  if (!gpu) return undefined;
  const name = gpu.split(/[;,]/)[0];
  const model = /\b([a-z]{1,2}\d{1,3}[a-z]?)\b/i.exec(name.replace(/^nvidia\s+/i, ''));
  return (model ? model[1] : name).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** nvidia-smi's clocks every 250 ms into `file` while the suite runs (why: bench/README.md, the H200's clocks); none without nvidia-smi. */
function recordClocks(file: string): () => void {
  if (spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).status !== 0) return () => {};
  const fd = openSync(file, 'w');
  const child = spawn('nvidia-smi', ['--query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw', '--format=csv', '-lms', '250'], { stdio: ['ignore', fd, 'ignore'] });
  child.once('error', () => {});
  return () => {
    child.kill('SIGTERM');
    closeSync(fd);
  };
}

/** Packs `dir` into `tar` (a file outside it), for a device call that returns few files. */
function pack(dir: string, tar: string | undefined): void {
  if (!tar) return;
  mkdirSync(path.dirname(path.resolve(tar)), { recursive: true });
  spawnSync('tar', ['-C', dir, '-cf', path.resolve(tar), '.'], { stdio: 'ignore' });
}

export interface SuiteOptions {
  processes: number;
  /** the results folder that holds the suite's folder (what --tar packs) */
  results: string;
  timeoutS?: number;
  deadlineS?: number;
  tar?: string;
  log: (line: string) => void;
  /** the driver's command line, for suite.json */
  argv: string[];
}

/**
 * Runs `suite`: its jobs in fresh processes, each run checked against the kind's schema, the usable runs merged
 * into `<suite>.json` with `<suite>.md` beside it. Resolves to the merged file, or undefined when no run was
 * usable (every failure is in suite.json and was logged).
 */
export async function runSuite(suite: Suite, run: SuiteRun, opts: SuiteOptions): Promise<string | undefined> {
  // the options' errors come before anything is started or written
  const kind = typeof suite.kind === 'function' ? suite.kind(run) : suite.kind;
  const jobs = suite.jobs(run);
  mkdirSync(run.out, { recursive: true });
  const started = new Date().toISOString();
  const host = describeHost();
  opts.log(`suite ${suite.name}: ${opts.processes} fresh process(es) per configuration, size ${run.size}${run.backend ? `, backend ${run.backend}` : ''}${run.heatMs ? `, GPU heated ${run.heatMs} ms` : ''}; GPU ${host.gpu ?? 'none named by nvidia-smi'}, CPU ${host.cpu} (${host.cores} cores)`);
  await suite.prepare?.(run, opts.log);
  const stopClocks = recordClocks(path.join(run.out, 'clocks.csv'));
  let results: ProcessResult[];
  try {
    results = await runFreshProcesses(jobs, {
      dir: run.out,
      processes: opts.processes,
      timeoutS: opts.timeoutS,
      deadlineS: opts.deadlineS,
      check: (file) => void readRunFile(file, [kind]),
      onEnd: () => pack(opts.results, opts.tar),
      log: opts.log,
    });
  } finally {
    stopClocks();
  }
  const usable = results.filter((r) => r.ok).map((r) => r.file);
  const failures = results.filter((r) => !r.ok).map((r) => ({ file: `${r.job}-${r.repetition}`, reason: r.reason ?? 'failed' }));
  let merged: string | undefined;
  if (usable.length) {
    const m = mergeRunFiles(usable, [kind], failures);
    // the backend in the name: the processes' (the heated suites without a --backend, tune, run on webgpu)
    const card = cardName(host.gpu);
    const backend = run.backend || (suite.heats ? 'webgpu' : '');
    const stem = [path.basename(run.out), ...(card ? [backend, card].filter(Boolean) : [])].join('-');
    merged = path.join(run.out, `${stem}.json`);
    writeFileAtomic(merged, `${JSON.stringify(m.merged, null, 2)}\n`);
    writeFileSync(path.join(run.out, `${stem}.md`), `${m.summary}\n`);
    opts.log(m.summary);
    suite.after?.(run, usable, opts.log, merged);
  }
  const record = { kind: 'clusterkv-bench-suite', suite: suite.name, argv: opts.argv, started, ended: new Date().toISOString(), host, size: run.size, backend: run.backend, heatMs: run.heatMs, processesPerConfiguration: opts.processes, options: run.options, merged: merged ? path.basename(merged) : null, clocks: existsSync(path.join(run.out, 'clocks.csv')) ? 'clocks.csv' : null, runs: results.map((r) => ({ ...r, file: path.basename(r.file), logFile: path.basename(r.logFile) })) };
  writeFileSync(path.join(run.out, 'suite.json'), `${JSON.stringify(record, null, 2)}\n`);
  pack(opts.results, opts.tar);
  opts.log(merged ? `${suite.name}: merged ${usable.length} of ${results.length} runs into ${merged}${failures.length ? `; ${failures.length} not used (suite.json)` : ''}` : `${suite.name}: no usable run of ${results.length} (suite.json)`);
  return merged;
}
