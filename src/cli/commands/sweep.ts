/** `clusterkv sweep TRACE ...`: methods x budgets x cluster counts (x --param grids) -> DIR/results.csv + manifest.json. */
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { sparseLayerRows } from '../../sim/sparse-layers.js';
import { METRICS } from '../../sim/metrics.js';
import { runSweep, summarize, summaryColumns, SweepInterrupted, type SweepResult, type SweepSpec } from '../../sim/sweep.js';
import { checkOutputFolder } from '../errors.js';
import { collect, parseGridFlags, parseIntFlag, parseIntList, parseNameList } from '../parse.js';
import { progressBar } from '../progress.js';
import { formatTable } from '../table.js';
import { checkTraceInput } from '../trace-input.js';

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

/** Runs `work` with SIGINT (Ctrl-C) turned into an abort: the sweep stops after its current step and records 'interrupted'. */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop now
    process.stderr.write('\nclusterkv: stopping after the current step (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } catch (err) {
    if (err instanceof SweepInterrupted) {
      process.stderr.write(`clusterkv: ${err.message}\n`);
      process.exit(130);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The summary table of a sweep's rows (sparse layers only) and the line that says what it is. */
export function printSweepSummary(result: SweepResult, backend: string, out: string): void {
  const summary = summarize(sparseLayerRows(result.table));
  console.log(formatTable(summary.objects() as Record<string, unknown>[], summaryColumns(summary)));
  const earlier = result.folderCells.length - result.cells.length;
  console.log(
    `\nmeans over the sparse layers (layer >= each method's denseLayers), heads and steps` +
      `\n${result.cells.length} cells (${result.computed} cell-layers computed, ${result.skipped} already done) on ${backend} in ${result.seconds.toFixed(1)} s -> ${out}/results.csv` +
      (earlier > 0 ? `\nthe folder also holds ${earlier} cells of earlier runs: results.csv and the table above include them` : ''),
  );
}

/** `--help` text: what each metric of results.csv means. */
export function metricsHelp(): string {
  return `\nMetrics (results.csv columns, per layer, query head and decode step):\n${METRICS.map((m) => `  ${m.name.padEnd(15)} ${m.meaning}`).join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('sweep')
    .description('replay a trace through methods over budgets and cluster counts; write DIR/results.csv, results.arrow and manifest.json')
    .argument('<trace>', 'trace file (.safetensors, format v1)')
    .requiredOption('--out <dir>', 'results folder (re-running into it skips finished cells)')
    .option('--methods <list>', 'methods, comma-separated, or all', 'full,oracle,clusterkv')
    .option('--budgets <list>', 'token budgets B, comma-separated', '256,512,1024')
    .option('--clusters <list>', 'ClusterKV prompt cluster counts C0 (default: ceil(L / tokensPerCluster))')
    .option('--param <name=v1,v2>', 'sweep any other method parameter (repeatable), e.g. --param iters=10,20', collect, [])
    .option('--layers <list>', 'layers to replay (default all)')
    .option('--heads <list>', 'query heads to report, 0..H-1 (default all; export picks KV heads with --kv-heads)')
    .option('--steps <list>', 'decode steps to report (default all)')
    .option('--seed <n>', 'seed for seeded methods (recorded)', '0')
    .option('--backend <name>', 'tfjs backend: tensorflow, webgpu, wasm, cpu (default: env CLUSTERKV_BACKEND, else first that loads)')
    .option('--quiet', 'print no summary')
    .addHelpText('after', metricsHelp())
    .option('--json', 'print the summary as JSON (rows of the table, cells, timing) instead of a table')
    .action(async (trace: string, flags: SweepFlags) => {
      const spec = sweepSpecFromFlags(flags);
      // bad inputs fail here, before backend start-up and any replay
      checkOutputFolder(flags.out);
      await checkTraceInput(trace);
      const backend = await useBackend(flags.backend);
      const bar = progressBar('sweep');
      try {
        const result = await withInterrupt((signal) => runSweep(trace, spec, flags.out, { backend, signal, onProgress: (d, t) => bar.update(d, t) }));
        bar.stop();
        if (flags.json) {
          const summary = summarize(sparseLayerRows(result.table)).objects();
          console.log(JSON.stringify({ out: flags.out, backend, cells: result.cells.length, folderCells: result.folderCells.length, computed: result.computed, skipped: result.skipped, seconds: result.seconds, summary }, null, 2));
        } else if (!flags.quiet) printSweepSummary(result, backend, flags.out);
      } finally {
        bar.stop();
      }
    });
}
