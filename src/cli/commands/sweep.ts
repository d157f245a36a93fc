/**
 * `clusterkv sweep TRACE... --out DIR`: methods x budgets x cluster counts (x --param grids) ->
 * DIR/results.csv + results.arrow + manifest.json (DIR/<trace name>/ each for several traces), computed in
 * this process (--jobs 1), on local worker processes (--jobs N, default one per core), or by `clusterkv
 * worker`s on any number of machines through a BullMQ queue on Redis (--queue redis://HOST:PORT/DB).
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { sparseLayerRows } from '../../sim/sparse-layers.js';
import { parseRedisUrl } from '../../sim/queue-target.js';
import { METRICS } from '../../sim/metrics.js';
import { runSweeps, summarize, summaryColumns, SweepFailed, SweepInterrupted, type SweepQueueOptions, type SweepResult, type SweepSpec } from '../../sim/sweep.js';
import { checkOutputFolder, UserError } from '../errors.js';
import { withInterrupt } from '../interrupt.js';
import { backendOption } from '../options.js';
import { collect, parseGridFlags, parseIntFlag, parseIntList, parseNameList } from '../parse.js';
import { progressBar } from '../progress.js';
import { count, formatTable } from '../table.js';
import { checkTraceInput } from '../trace-input.js';
import { denseBudgetsWarning, HeldWarnings } from '../warn.js';

export interface SweepFlags {
  methods: string;
  budgets: string;
  clusters?: string;
  out: string;
  layers?: string;
  heads?: string;
  steps?: string;
  seed: string;
  backend?: string;
  param: string[];
  quiet?: boolean;
  json?: boolean;
  jobs?: string;
  queue?: string;
  name?: string;
  prefix?: string;
  attempts: string;
}

/** Where the units are computed: --queue, else --jobs local processes (default one per core). */
export function executionFromFlags(flags: SweepFlags): { jobs: number; queue?: SweepQueueOptions } {
  const jobs = flags.jobs !== undefined ? parseIntFlag('--jobs', flags.jobs, 1) : os.availableParallelism();
  if (!flags.queue) {
    if (flags.name !== undefined || flags.prefix !== undefined) throw new UserError('--name and --prefix name a queued sweep: give --queue redis://HOST:PORT/DB too');
    return { jobs };
  }
  if (flags.jobs !== undefined) throw new UserError('--jobs sets local worker processes; a queued sweep (--queue) is computed by `clusterkv worker`s (their --concurrency)');
  try {
    parseRedisUrl(flags.queue);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const attempts = parseIntFlag('--attempts', flags.attempts, 1);
  return { jobs: 1, queue: { url: flags.queue, name: flags.name ?? path.basename(path.resolve(flags.out)), prefix: flags.prefix, attempts } };
}

export function sweepSpecFromFlags(flags: SweepFlags): SweepSpec {
  return {
    methods: parseNameList('--methods', flags.methods),
    budgets: parseIntList('--budgets', flags.budgets, 1),
    clusters: flags.clusters ? parseIntList('--clusters', flags.clusters, 1) : undefined,
    grid: parseGridFlags(flags.param),
    layers: flags.layers ? parseIntList('--layers', flags.layers, 0) : undefined,
    heads: flags.heads ? parseIntList('--heads', flags.heads, 0) : undefined,
    steps: flags.steps ? parseIntList('--steps', flags.steps, 0) : undefined,
    seed: parseIntFlag('--seed', flags.seed),
  };
}

/** What sweep progress counts: (cell, layer, decode step) triples; the summary counts cell-layers of so many steps. */
export const SWEEP_PROGRESS_UNIT = 'cell-layer steps';

/** The summary table of a sweep's rows (sparse layers only) and the line that says what it is. */
export function printSweepSummary(result: SweepResult, backend: string, out: string, how = ''): void {
  const summary = summarize(sparseLayerRows(result.table));
  console.log(formatTable(summary.objects() as Record<string, unknown>[], summaryColumns(summary)));
  const earlier = result.folderCells.length - result.cells.length;
  const steps = new Set(result.table.array('step') as number[]).size;
  console.log(
    `\nmeans over the sparse layers (layer >= each method's denseLayers), heads and steps` +
      `\n${count(result.cells.length, 'cell')} (${count(result.computed, 'cell-layer')} of ${count(steps, 'decode step')} computed, ${result.skipped} already done) on ${backend}${how} in ${result.seconds.toFixed(1)} s -> ${out}/results.csv` +
      (earlier > 0 ? `\nthe folder also holds ${count(earlier, 'cell')} of earlier runs: results.csv and the table above include them` : ''),
  );
}

/** `--help` text: what each metric of results.csv means. */
export function metricsHelp(): string {
  return `\nMetrics (results.csv columns, per layer, query head and decode step):\n${METRICS.map((m) => `  ${m.name.padEnd(15)} ${m.meaning}`).join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('sweep')
    .description('replay traces through methods over budgets and cluster counts; write DIR/results.csv, results.arrow and manifest.json')
    .argument('<traces...>', 'trace files (.safetensors, format v1); several go to DIR/<trace name>/ each')
    .requiredOption('--out <dir>', 'results folder (re-running into it skips finished cells)')
    .option('--methods <list>', 'methods, comma-separated, or all', 'full,oracle,clusterkv')
    .option('--budgets <list>', 'token budgets B, comma-separated', '256,512,1024')
    .option('--clusters <list>', 'ClusterKV prompt cluster counts C0 (default: ceil(L / tokensPerCluster))')
    .option('--param <name=v1,v2>', 'sweep any other method parameter (repeatable), e.g. --param iters=10,20', collect, [])
    .option('--layers <list>', 'layers to replay (default all)')
    .option('--heads <list>', 'query heads to report, 0..H-1 (default all; export picks KV heads with --kv-heads)')
    .option('--steps <list>', 'decode steps to report (default all)')
    .option('--seed <n>', 'seed for seeded methods (recorded)', '0')
    .addOption(backendOption())
    .option('--jobs <n>', `local worker processes, one (family of cells, layer) unit each (default: one per core, ${os.availableParallelism()} here); results are the same for any N`)
    .option('--queue <url>', 'compute on `clusterkv worker`s through a BullMQ queue on Redis instead: redis://HOST:PORT/DB (traces must be readable at the same path on every worker)')
    .option('--name <name>', 'a queued sweep\'s name, the namespace of its job ids (default: the --out folder\'s name)')
    .option('--prefix <prefix>', 'Redis key prefix of the queue (default clusterkv; the workers must use the same)')
    .option('--attempts <n>', 'attempts per queued unit before it is reported as failed', '3')
    .option('--quiet', 'print no summary')
    .addHelpText('after', metricsHelp())
    .option('--json', 'print the summary as JSON (rows of the table, cells, timing) instead of a table')
    .action(async (traces: string[], flags: SweepFlags) => {
      const spec = sweepSpecFromFlags(flags);
      const { jobs, queue } = executionFromFlags(flags);
      // bad inputs fail here, before backend start-up and any replay
      checkOutputFolder(flags.out);
      const warnings = new HeldWarnings();
      for (const trace of traces) {
        const manifest = await checkTraceInput(trace);
        warnings.hold(denseBudgetsWarning('--budgets', spec.budgets, manifest.prefillLength, `prompt positions of ${trace}`));
      }
      // a queued sweep computes nothing here: the workers' backends are recorded
      const backend = queue ? (flags.backend ?? 'queue workers') : await useBackend(flags.backend);
      const bar = progressBar(queue ? 'sweep (all workers)' : 'sweep', SWEEP_PROGRESS_UNIT);
      const notice = (line: string) => {
        bar.stop();
        process.stderr.write(`clusterkv: ${line}\n`);
      };
      try {
        const results = await withInterrupt('step', (err) => err instanceof SweepInterrupted, (signal) => runSweeps(traces, spec, flags.out, { backend, signal, jobs, queue, notice, onProgress: (d, t) => {
          warnings.flush();
          bar.update(d, t);
        } }));
        bar.stop();
        warnings.flush();
        const how = queue ? ` (queue ${parseRedisUrl(queue.url).display}, name ${queue.name})` : jobs > 1 ? ` (${jobs} local worker processes)` : '';
        if (flags.json) {
          const runs = results.map((result) => ({
            out: result.dir, backend: result.backend, cells: result.cells.length, folderCells: result.folderCells.length,
            computed: result.computed, skipped: result.skipped, seconds: result.seconds, summary: summarize(sparseLayerRows(result.table)).objects(),
          }));
          console.log(JSON.stringify(runs.length === 1 ? runs[0] : runs, null, 2));
        } else if (!flags.quiet) {
          for (const result of results) {
            if (results.length > 1) console.log(`\n${result.dir}`);
            printSweepSummary(result, result.backend, result.dir, how);
          }
        }
      } catch (err) {
        bar.stop();
        if (err instanceof SweepFailed) throw new UserError(`${err.message}\n(finished cells are kept in results.csv; re-run the same command to retry the failed ones)`);
        if (err instanceof Error && err.name === 'QueueUnreachable') throw new UserError(err.message);
        throw err;
      }
    });
}
