/**
 * `clusterkv bench`: DESIGN.md's GPU kernel benchmark on the current backend (per-stage latency of a
 * ClusterKV decode step against dense attention, prompt K-means), optionally over several contexts.
 * Writes a JSON report (--out) with backend, adapter, versions and parameters.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { gpuAdapterInfo, useBackend } from '../../gpu/backend.js';
import { DESIGN_BENCH, runKernelBench, type KernelBenchConfig, type KernelBenchReport } from '../../sim/bench/kernel-bench.js';
import { timingMs } from '../../sim/bench/timing.js';
import { writeFileAtomic } from '../../sim/results-folder.js';
import { packageVersions } from '../../sim/versions.js';
import { parseIntFlag, parseIntList } from '../parse.js';
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
  batch: string;
  warmup: string;
  iters: string;
  kmeansRuns: string;
  seed: string;
  contexts?: string;
  tokensPerCluster: string;
  out?: string;
  main: boolean;
  json?: boolean;
}

/** Backends that run on the host: the GPU-sized defaults take many minutes there. */
const HOST_BACKENDS = ['cpu', 'wasm'];

/** Timed stages of one runKernelBench call, as its log announces them (lines 'kmeans: ', 'dense attention: ', 'clusterkv step: '). */
const STAGE_LINE = /^(kmeans|dense attention|clusterkv step):/;
function stageCount(budgets: number, kmeans: boolean): number {
  return (kmeans ? 1 : 0) + 1 + budgets;
}


/** What medianMs means on this backend (tf.time's kernelMs is GPU timestamps only on webgpu and tensorflow-gpu). */
export function timingDescription(backend: string, hasKernelMs: boolean): string {
  const wall = 'wall times fenced by a one-element readback';
  if (!hasKernelMs) return `medianMs = wall time, fenced before and after by a one-element readback (no kernel timer on this backend)`;
  if (backend === 'webgpu') return `medianMs = GPU kernel time from timestamp queries (tf.time kernelMs); ${wall}`;
  return `medianMs = tf.time kernelMs on ${backend}: the kernels' own execution time on the host, no dispatch or readback; ${wall}`;
}

export function benchRows(report: KernelBenchReport): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [{ path: 'dense', stage: 'attention', budget: null, medianMs: timingMs(report.dense), wallMedianMs: report.dense.wallMs.median, GBps: report.dense.achievedGBps }];
  for (const b of report.budgets) {
    for (const [stage, t] of Object.entries(b.stages)) rows.push({ path: 'clusterkv', stage: stage === 'rank' && b.ranking ? `rank (${b.ranking})` : stage, budget: b.budget, medianMs: timingMs(t), wallMedianMs: t.wallMs.median, GBps: t.achievedGBps });
    const other = b.otherRanking;
    if (other) rows.push({ path: 'alternative', stage: `rank (${other.method})`, budget: b.budget, medianMs: timingMs(other.timing), wallMedianMs: other.timing.wallMs.median, GBps: other.timing.achievedGBps });
    rows.push({ path: 'clusterkv', stage: 'step (all)', budget: b.budget, medianMs: timingMs(b.clusterkvStep), wallMedianMs: b.clusterkvStep.wallMs.median, GBps: b.clusterkvStep.achievedGBps, speedup: b.speedup, pairedDenseMs: b.pairedDenseMs.median, pairedStepMs: b.pairedStepMs.median, pairedSpeedup: b.pairedSpeedup.median });
  }
  if (report.kmeans) rows.push({ path: 'prefill', stage: `kmeans (${report.kmeans.iters} it)`, budget: null, medianMs: timingMs(report.kmeans.timing), wallMedianMs: report.kmeans.timing.wallMs.median, GBps: report.kmeans.timing.achievedGBps });
  return rows;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('time the ClusterKV decode step per stage against dense attention, and prompt K-means, on the current backend')
    .option('--backend <name>', 'tfjs backend (default: env CLUSTERKV_BACKEND, else first that loads)')
    .option('--context <n>', 'context length T', String(DESIGN_BENCH.context))
    .option('--heads <n>', 'query heads H', String(DESIGN_BENCH.heads))
    .option('--kv-heads <n>', 'KV heads G', String(DESIGN_BENCH.kvHeads))
    .option('--head-dim <n>', 'head dimension d', String(DESIGN_BENCH.headDim))
    .option('--clusters <n>', 'prompt clusters C0', String(DESIGN_BENCH.clusters))
    .option('--budgets <list>', 'token budgets B', DESIGN_BENCH.budgets.join(','))
    .option('--runs <n>', 'timed runs per stage', String(DESIGN_BENCH.runs))
    .option('--batch <n>', 'runs per timed sample, back to back (sample = mean)', String(DESIGN_BENCH.batch))
    .option('--warmup <n>', 'warm-up runs per stage', String(DESIGN_BENCH.warmup))
    .option('--iters <n>', 'K-means iterations', String(DESIGN_BENCH.kmeansIters))
    .option('--kmeans-runs <n>', 'timed K-means runs', String(DESIGN_BENCH.kmeansRuns))
    .option('--seed <n>', 'seed of the generated inputs', String(DESIGN_BENCH.seed))
    .option('--contexts <list>', 'also sweep these contexts (planted clusters, C0 = ceil(T / tokens-per-cluster))')
    .option('--tokens-per-cluster <n>', 'C0 = ceil(T / this) in the context sweep', '80')
    .option('--no-main', 'skip the run at --context (and its K-means): only the --contexts sweep')
    .option('--out <file.json>', 'write the JSON report here')
    .option('--json', 'print the JSON report on stdout instead of the tables')
    .action(async (flags: BenchFlags) => {
      const cfg: KernelBenchConfig = {
        context: parseIntFlag('--context', flags.context, 1),
        heads: parseIntFlag('--heads', flags.heads, 1),
        kvHeads: parseIntFlag('--kv-heads', flags.kvHeads, 1),
        headDim: parseIntFlag('--head-dim', flags.headDim, 1),
        clusters: parseIntFlag('--clusters', flags.clusters, 1),
        budgets: parseIntList('--budgets', flags.budgets, 1),
        runs: parseIntFlag('--runs', flags.runs, 1),
        batch: parseIntFlag('--batch', flags.batch, 1),
        warmup: parseIntFlag('--warmup', flags.warmup, 0),
        kmeansIters: parseIntFlag('--iters', flags.iters, 0),
        kmeansRuns: parseIntFlag('--kmeans-runs', flags.kmeansRuns, 1),
        seed: parseIntFlag('--seed', flags.seed),
      };
      const contexts = flags.contexts ? parseIntList('--contexts', flags.contexts, 1) : [];
      const tokensPerCluster = parseIntFlag('--tokens-per-cluster', flags.tokensPerCluster, 1);
      if (!flags.main && contexts.length === 0) throw new UserError('bench: --no-main needs --contexts (nothing to time)');
      if (flags.out) checkOutputFile(flags.out);
      const backend = await useBackend(flags.backend);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      log(`backend ${backend}${gpuAdapterInfo() ? `, adapter ${JSON.stringify(gpuAdapterInfo())}` : ''}`);
      if (HOST_BACKENDS.includes(backend) && Math.max(flags.main ? cfg.context : 0, ...contexts) > 8192) {
        log(`bench: warning: context ${Math.max(flags.main ? cfg.context : 0, ...contexts)} (the defaults are sized for an H200) on the ${backend} backend runs for many minutes; for a quick look: --context 4096 --clusters 64 --runs 5 --warmup 1 --kmeans-runs 1`);
      }
      const sweepBudgets = contexts.map((c) => cfg.budgets.filter((b) => b <= c).length);
      const totalStages = (flags.main ? stageCount(cfg.budgets.length, true) : 0) + sweepBudgets.reduce((n, b) => n + stageCount(b, false), 0);
      const bar = progressBar('bench');
      let stagesStarted = 0;
      // a live bar shows the stage lines itself (other stderr lines would tear it)
      const stageLog = (line: string) => {
        if (STAGE_LINE.test(line)) bar.update(stagesStarted++, totalStages, line.split(':')[0]);
        if (!progressIsLive()) log(line);
      };
      bar.update(0, totalStages, 'inputs');
      const main = flags.main ? await runKernelBench(cfg, 'kmeans', stageLog) : null;
      if (main && !flags.json) console.log(formatTable(benchRows(main), ['path', 'stage', 'budget', 'medianMs', 'wallMedianMs', 'GBps', 'speedup', 'pairedSpeedup'], 4));
      const sweep: { context: number; clusters: number; report: KernelBenchReport }[] = [];
      for (const context of contexts) {
        const clusters = Math.ceil(context / tokensPerCluster);
        log(`context ${context}: ${clusters} planted clusters`);
        const budgets = cfg.budgets.filter((b) => b <= context);
        sweep.push({ context, clusters, report: await runKernelBench({ ...cfg, context, clusters, budgets }, 'planted', stageLog) });
      }
      bar.update(totalStages, totalStages);
      bar.stop();
      if (sweep.length && !flags.json) {
        const rows = sweep.flatMap(({ context, clusters, report }) =>
          report.budgets.map((b) => ({ context, clusters, budget: b.budget, denseMs: timingMs(report.dense), clusterkvMs: timingMs(b.clusterkvStep), speedup: b.speedup, pairedDenseMs: b.pairedDenseMs.median, pairedStepMs: b.pairedStepMs.median, pairedSpeedup: b.pairedSpeedup.median })),
        );
        console.log(`\n${formatTable(rows, ['context', 'clusters', 'budget', 'denseMs', 'clusterkvMs', 'speedup', 'pairedDenseMs', 'pairedStepMs', 'pairedSpeedup'], 4)}`);
      }
      const timingNote = timingDescription(backend, (main ?? sweep[0].report).dense.kernelMs !== undefined);
      const report = {
        kind: 'clusterkv-kernel-bench',
        created: new Date().toISOString(),
        backend,
        adapter: gpuAdapterInfo() ?? null,
        versions: packageVersions(),
        timing: timingNote,
        main,
        contexts: sweep,
      };
      if (flags.out) {
        writeFileAtomic(path.resolve(flags.out), JSON.stringify(report, null, 2));
        log(`wrote ${flags.out}`);
      }
      if (flags.json) console.log(JSON.stringify(report, null, 2));
    });
}
