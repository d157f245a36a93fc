/**
 * `clusterkv bench`: the GPU kernel benchmark on the current backend: every kernel of the kernel list on
 * every path it has (tfjs op chains; the WGSL kernels on webgpu), at the design's shape (docs/DESIGN.md#the-kernel-benchmark), optionally over
 * several contexts. Writes a JSON report (--out) with backend, adapter, versions and parameters.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { gpuAdapterInfo, useBackend } from '../../gpu/backend.js';
import { defaultKvDtype, KV_DTYPES, type KvDtype } from '../../gpu/half-tensor.js';
import { KERNELS } from '../../gpu/kernel-list.js';
import { isKernelPath, type KernelPath } from '../../gpu/kernel-path.js';
import { benchFile, benchKernelRows, benchSummaryRows, stageSum, type BenchFile } from '../../sim/bench/bench-file.js';
import { CLUSTERKV_DEFAULTS, clusterCount } from '../../sim/methods/clusterkv/plan.js';
import { DESIGN_BENCH, findTiming, reportPaths, runKernelBench, SWEEP_KERNELS, sweepKernels, type KernelBenchConfig, type KernelBenchReport } from '../../sim/bench/kernel-bench.js';
import { timingMs } from '../../sim/bench/timing.js';
import { writeFileAtomic } from '../../sim/results-folder.js';
import { packageVersions } from '../../sim/versions.js';
import { backendOption } from '../options.js';
import { parseIntFlag, parseIntList, parseNameList } from '../parse.js';
import { checkOutputFile, UserError } from '../errors.js';
import { progressBar, progressIsLive } from '../progress.js';
import { formatTable } from '../table.js';

interface BenchFlags {
  backend?: string;
  context: string;
  heads: string;
  kvHeads: string;
  headDim: string;
  clusters: string;
  budgets: string;
  runs: string;
  warmup: string;
  iters: string;
  kmeansRuns: string;
  seed: string;
  contexts?: string;
  tokensPerCluster: string;
  kernels?: string;
  paths?: string;
  heatMs: string;
  kvDtype?: string;
  out?: string;
  main: boolean;
  json?: boolean;
}

/** Backends that run on the host: the GPU-sized defaults take many minutes there. */
const HOST_BACKENDS = ['cpu', 'wasm'];

/** What medianMs means on this backend. */
export function timingDescription(backend: string, hasKernelMs: boolean): string {
  const wall = 'wallMs = fenced wall time (on webgpu: submit and wait for the queue to drain, before and after)';
  if (!hasKernelMs) return `medianMs = wall time (no kernel timer on this backend); ${wall}`;
  if (backend === 'webgpu') return `medianMs = GPU time from timestamp queries: WGSL kernels begin to end of their compute pass (gaps between its dispatches included), op chains the sum of tf.time's per-program times; ${wall}`;
  return `medianMs = tf.time kernelMs on ${backend}: the kernels' own execution time on the host, no dispatch or readback; ${wall}`;
}

const f = (digits: number) => (v: unknown) => (v === null || v === undefined ? '' : Number(v).toFixed(digits));

/** The main run's rows: every kernel on every path. */
export function kernelTable(report: KernelBenchReport, backend: string): string {
  const rows = benchKernelRows([{ file: 'live', label: backend, bench: benchFile(report, backend) }]).map((r) => ({
    path: r.path, kernel: r.kernel, budget: r.budget ?? '', ms: f(4)(r.medianMs), wallMs: f(4)(r.wallMs), loopMs: f(4)(r.loopMs), MB: f(2)(r.MB), GBps: f(1)(r.GBps), '%read': f(1)(r.pctOfRead), '%copy': f(1)(r.pctOfCopy),
  }));
  return formatTable(rows, ['path', 'kernel', 'budget', 'ms', 'wallMs', 'loopMs', 'MB', 'GBps', '%read', '%copy'], 4);
}

/** Dense against the ClusterKV step per path and budget, with the step's stage sum. */
export function stepTable(report: KernelBenchReport, backend: string): string {
  const rows = benchSummaryRows([{ file: 'live', label: backend, bench: benchFile(report, backend) }]).map((r) => ({
    path: r.path, budget: r.budget, denseMs: f(4)(r.denseMs), stepMs: f(4)(r.clusterkvMs), speedup: f(2)(r.speedup), stageSumMs: f(4)(stageSum(report, r.path as KernelPath, r.budget as number)),
    denseWallMs: f(4)(r.denseWallMs), stepWallMs: f(4)(r.clusterkvWallMs), stepLoopMs: f(4)(r.clusterkvLoopMs), kmeansMs: f(2)(r.kmeansMs),
  }));
  return formatTable(rows, ['path', 'budget', 'denseMs', 'stepMs', 'speedup', 'stageSumMs', 'denseWallMs', 'stepWallMs', 'stepLoopMs', 'kmeansMs'], 4);
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('time every kernel of the kernel list on every path (op chains; WGSL kernels on webgpu): the ClusterKV decode step per stage against dense attention, bandwidth ceilings, prompt K-means')
    .addOption(backendOption())
    .option('--context <n>', 'context length T', String(DESIGN_BENCH.context))
    .option('--heads <n>', 'query heads H', String(DESIGN_BENCH.heads))
    .option('--kv-heads <n>', 'KV heads G', String(DESIGN_BENCH.kvHeads))
    .option('--head-dim <n>', 'head dimension d', String(DESIGN_BENCH.headDim))
    .option('--clusters <n>', 'prompt clusters C0', String(DESIGN_BENCH.clusters))
    .option('--budgets <list>', 'token budgets B', DESIGN_BENCH.budgets.join(','))
    .option('--runs <n>', 'timed runs per kernel and path', String(DESIGN_BENCH.runs))
    .option('--warmup <n>', 'warm-up runs per kernel and path', String(DESIGN_BENCH.warmup))
    .option('--iters <n>', 'K-means iterations', String(DESIGN_BENCH.kmeansIters))
    .option('--kmeans-runs <n>', 'timed K-means runs (0: no K-means)', String(DESIGN_BENCH.kmeansRuns))
    .option('--seed <n>', 'seed of the generated inputs', String(DESIGN_BENCH.seed))
    .option('--kernels <list>', `kernels of the main run (default all: ${KERNELS.map((k) => k.name).join(', ')})`)
    .option('--paths <list>', 'paths to time: ops, wgsl (default: every path the backend has)')
    .option('--kv-dtype <list>', 'K/V and centroid storage of the kernels that take them: f16, f32 or f16,f32 (default: f16 where the GPU device has shader-f16, else f32)')
    .option('--heat-ms <n>', 'webgpu: keep the GPU busy this long before each kernel and every 10 samples, so that samples see a busy GPU\'s clocks (0: off)', '0')
    .option('--contexts <list>', `also sweep these contexts (planted clusters, C0 = ceil(T / tokens-per-cluster); kernels ${SWEEP_KERNELS.join(', ')})`)
    .option('--tokens-per-cluster <n>', 'C0 = ceil(T / this) in the context sweep', String(CLUSTERKV_DEFAULTS.tokensPerCluster))
    .option('--no-main', 'skip the run at --context: only the --contexts sweep')
    .option('--out <file.json>', 'write the JSON report here')
    .option('--json', 'print the JSON report on stdout instead of the tables')
    .action(async (flags: BenchFlags) => {
      const paths = flags.paths ? parseNameList('--paths', flags.paths) : undefined;
      for (const p of paths ?? []) if (!isKernelPath(p)) throw new UserError(`--paths: unknown path '${p}' (expected ops, wgsl)`);
      const kernels = flags.kernels ? parseNameList('--kernels', flags.kernels) : undefined;
      for (const k of kernels ?? []) if (!KERNELS.some((e) => e.name === k)) throw new UserError(`--kernels: unknown kernel '${k}' (expected one of ${KERNELS.map((e) => e.name).join(', ')})`);
      const cfg: KernelBenchConfig = {
        context: parseIntFlag('--context', flags.context, 1),
        heads: parseIntFlag('--heads', flags.heads, 1),
        kvHeads: parseIntFlag('--kv-heads', flags.kvHeads, 1),
        headDim: parseIntFlag('--head-dim', flags.headDim, 1),
        clusters: parseIntFlag('--clusters', flags.clusters, 1),
        budgets: parseIntList('--budgets', flags.budgets, 1),
        runs: parseIntFlag('--runs', flags.runs, 1),
        warmup: parseIntFlag('--warmup', flags.warmup, 0),
        kmeansIters: parseIntFlag('--iters', flags.iters, 0),
        kmeansRuns: parseIntFlag('--kmeans-runs', flags.kmeansRuns, 0),
        seed: parseIntFlag('--seed', flags.seed),
        kernels,
        paths: paths as KernelPath[] | undefined,
        heatMs: parseIntFlag('--heat-ms', flags.heatMs, 0),
      };
      const kvDtypes = flags.kvDtype ? parseNameList('--kv-dtype', flags.kvDtype) : undefined;
      for (const k of kvDtypes ?? []) if (!(KV_DTYPES as readonly string[]).includes(k)) throw new UserError(`--kv-dtype: unknown storage '${k}' (expected ${KV_DTYPES.join(', ')})`);
      const contexts = flags.contexts ? parseIntList('--contexts', flags.contexts, 1) : [];
      const tokensPerCluster = parseIntFlag('--tokens-per-cluster', flags.tokensPerCluster, 1);
      if (!flags.main && contexts.length === 0) throw new UserError('bench: --no-main needs --contexts (nothing to time)');
      if (flags.out) checkOutputFile(flags.out);
      const backend = await useBackend(flags.backend);
      cfg.kvDtypes = (kvDtypes as KvDtype[] | undefined) ?? [defaultKvDtype()];
      // a live bar shows the timed kernels itself (other stderr lines would tear it)
      const log = (line: string) => {
        if (!progressIsLive()) process.stderr.write(`${line}\n`);
      };
      const bar = progressBar('bench');
      let runsDone = 0;
      const runsTotal = (flags.main ? 1 : 0) + contexts.length;
      const onTimed = (done: number, total: number, label: string) => bar.update(done, total, `${runsDone + 1}/${runsTotal} ${label}`);
      const largest = Math.max(flags.main ? cfg.context : 0, ...contexts);
      if (HOST_BACKENDS.includes(backend) && largest > 8192) {
        log(`bench: warning: context ${largest} (the defaults are sized for an H200) on the ${backend} backend runs for many minutes; for a quick look: --context 4096 --clusters 64 --runs 5 --warmup 1 --kmeans-runs 1`);
      }
      log(`backend ${backend}${gpuAdapterInfo() ? `, adapter ${JSON.stringify(gpuAdapterInfo())}` : ''}`);
      let main: KernelBenchReport | null = null;
      try {
        main = flags.main ? await runKernelBench(cfg, log, onTimed) : null;
        if (flags.main) runsDone++;
      } catch (err) {
        if (err instanceof RangeError) throw new UserError(err.message);
        throw err;
      }
      if (main && !flags.json) {
        if (main.peak) console.log(`ceilings: copy ${main.peak.copyGBps.toFixed(0)} GB/s, read ${main.peak.readGBps.toFixed(0)} GB/s`);
        console.log(kernelTable(main, backend));
        console.log(`\n${stepTable(main, backend)}`);
      }
      const sweep: BenchFile['contexts'] = [];
      for (const context of contexts) {
        // ClusterKV's C0 rule over the whole context: the bench plants clusters in all T keys (it has no sinks)
        const clusters = clusterCount({ clusters: 0, tokensPerCluster }, context);
        log(`context ${context}: ${clusters} planted clusters`);
        const budgets = cfg.budgets.filter((b) => b <= context);
        sweep.push({ context, clusters, report: await runKernelBench({ ...cfg, context, clusters, budgets, kernels: sweepKernels(cfg.kvDtypes), kmeansRuns: 0 }, log, onTimed) });
        runsDone++;
      }
      if (sweep.length && !flags.json) {
        const rows = sweep.flatMap(({ context, clusters, report }) =>
          reportPaths(report).flatMap((p) =>
            (report.config.kvDtypes ?? ['f32']).flatMap((dtype) => report.config.budgets.map((budget) => {
              const suffix = dtype === 'f16' ? '-f16' : '';
              const dense = findTiming(report, `dense-attention${suffix}`, p);
              const step = findTiming(report, `clusterkv-step${suffix}`, p, budget);
              return { context, clusters, path: p, kv: dtype, budget, denseMs: f(4)(dense && timingMs(dense)), stepMs: f(4)(step && timingMs(step)), speedup: f(2)(dense && step ? timingMs(dense) / timingMs(step) : null), stepWallMs: f(4)(step?.wallMs.median), stepLoopMs: f(4)(step?.loopWallMs) };
            })),
          ),
        );
        console.log(`\n${formatTable(rows, ['context', 'clusters', 'path', 'kv', 'budget', 'denseMs', 'stepMs', 'speedup', 'stepWallMs', 'stepLoopMs'], 4)}`);
      }
      bar.stop();
      const first = main ?? sweep[0].report;
      const report: BenchFile = {
        ...benchFile(main, backend, sweep, gpuAdapterInfo() ?? null),
        versions: packageVersions(),
        timing: timingDescription(backend, first.timings.some((t) => t.timing.kernelMs !== undefined)),
      };
      if (flags.out) {
        writeFileAtomic(path.resolve(flags.out), JSON.stringify(report, null, 2));
        log(`wrote ${flags.out}`);
      }
      if (flags.json) console.log(JSON.stringify(report, null, 2));
    });
}
