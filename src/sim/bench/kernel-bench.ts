/**
 * The GPU kernel benchmark: every kernel of the kernel list (src/gpu/kernel-list.ts) on every path the
 * backend has ('ops': tfjs op chains; 'wgsl': the custom WebGPU kernels), at one shape, in one process:
 *
 *   ceilings    copy and read of the K and V bytes (WGSL), the bandwidth every other kernel is held against
 *   dense       dense decode attention over all T tokens
 *   step        one ClusterKV decode step at each budget: select + sparse attention
 *   stages      the step's parts: op chain score, rank, index (ranked-tokens), gather, attend; WGSL
 *               select-tokens (one dispatch) and sparse-attention (partials + merge); and the others
 *   K-means     prompt clustering (kmeansIters iterations) where asked
 *
 * Timing (timing.ts): `runs` samples of fenced wall time after `warmup` runs, then `runs` samples of kernel
 * time where the backend measures it (GPU timestamps on webgpu). Inputs are planted clusters (kernel-inputs.ts).
 * On the H200, op-chain kernel times drift upward over a process's life, so GPU runs repeat each configuration
 * in fresh processes (bench/run.ts, suites kernels and contexts) and merge them (bench-file.ts mergeBenchFiles).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KvDtype } from '../../gpu/half-tensor.js';
import { availablePaths, kernelEntry, kernelsFor, type KernelShape } from '../../gpu/kernel-list.js';
import { plantedClusterSizes } from '../../gpu/kernel-inputs.js';
import type { KernelPath } from '../../gpu/kernel-path.js';
import { copyWgsl } from '../../gpu/wgsl/ceilings/copy-read.js';
import { deviceLimits } from '../../gpu/wgsl/runtime/runtime.js';
import { median } from '../quantile.js';
import { fence, kernelTime, summarise, timingMs, type Timing } from './timing.js';
export type { Timing } from './timing.js';

export interface KernelBenchConfig {
  context: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  clusters: number;
  budgets: number[];
  warmup: number;
  runs: number;
  kmeansIters: number;
  /** K-means timing runs (each a full clustering); 0 leaves K-means out */
  kmeansRuns: number;
  seed: number;
  /** kernels to time (default: the whole list) */
  kernels?: string[];
  /** paths to time (default: every path the backend has) */
  paths?: KernelPath[];
  /** K/V storage of the kernels that take K/V (default f32; `clusterkv bench --kv-dtype`, f16 where the device has it) */
  kvDtypes?: KvDtype[];
  /**
   * webgpu: before each kernel's timing and every HEAT_EVERY samples, keep the GPU busy with copies for this
   * many ms, so that samples run at the clocks of a busy GPU rather than those of an idle one (0: off)
   */
  heatMs?: number;
}

export const DESIGN_BENCH: KernelBenchConfig = {
  context: 32768, heads: 32, kvHeads: 8, headDim: 128, clusters: 400, budgets: [2048, 1024],
  warmup: 10, runs: 50, kmeansIters: 20, kmeansRuns: 5, seed: 0,
};

/** What the context sweep times per context: dense attention and the ClusterKV step. */
export const SWEEP_KERNELS = ['dense-attention', 'clusterkv-step'];

/** The sweep's kernels at the K/V storages asked (the f16 variants carry the suffix '-f16'). */
export function sweepKernels(dtypes: readonly KvDtype[] = ['f32']): string[] {
  return dtypes.flatMap((d) => SWEEP_KERNELS.map((k) => (d === 'f16' ? `${k}-f16` : k)));
}

/** Runs back to back for the steady-state wall time per run (loopWallMs). */
const LOOP_RUNS = 20;

/** Samples between two heat phases (KernelBenchConfig.heatMs). */
const HEAT_EVERY = 10;

/**
 * A GPU heater: copies of a 256 MiB buffer (less where bindings are smaller), back to back, for `ms` of wall time, then a fence. On the H200 the
 * SM clock falls from 1980 MHz to 345-500 MHz within seconds of low utilisation (bench/results/
 * clocks-webgpu-h200.csv) and recovers under sustained load.
 */
export function gpuHeater(): { heat: (ms: number) => Promise<void>; dispose: () => void } {
  const x = tf.zeros([Math.min(1 << 26, Math.floor(deviceLimits().maxBinding / 64) * 4)]);
  return {
    async heat(ms: number) {
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        for (let i = 0; i < 2; i++) tf.dispose(copyWgsl(x));
        await fence([]);
      }
    },
    dispose: () => x.dispose(),
  };
}

/** The op chain's parts of a ClusterKV step, and the WGSL path's. */
export const STEP_STAGES: Record<KernelPath, string[]> = {
  ops: ['score-centroids', 'rank-clusters', 'ranked-tokens', 'gather-kv', 'attend-gathered'],
  wgsl: ['select-tokens', 'sparse-attention'],
};

export interface KernelTiming {
  kernel: string;
  /** the budget of a per-budget kernel, else null */
  budget: number | null;
  path: KernelPath;
  timing: Timing;
}

export interface KernelBenchReport {
  config: KernelBenchConfig;
  /** bandwidth ceilings measured in this run (GB/s), where the copy and read kernels ran */
  peak?: { copyGBps: number; readGBps: number };
  timings: KernelTiming[];
  clusterSizes: { min: number; median: number; max: number };
}

/** Bench order: ceilings, the headline pair, the step's stages, the rest, K-means last (drift: see above). */
const ORDER = ['copy', 'read', 'dense-attention', 'dense-attention-f16', 'clusterkv-step', 'clusterkv-step-f16', 'select-tokens', 'select-tokens-f16', 'sparse-attention', 'sparse-attention-f16', ...STEP_STAGES.ops, 'select-clusters', 'select-clusters-f16', 'refine-candidates', 'attention-weights', 'cluster-index', 'kmeans', 'kmeans-f16'];

function validate(cfg: KernelBenchConfig): void {
  for (const key of ['context', 'heads', 'kvHeads', 'headDim', 'clusters', 'runs'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] <= 0) throw new RangeError(`bench: ${key} must be a positive integer, got ${cfg[key]}`);
  }
  if (!Number.isInteger(cfg.kmeansRuns) || cfg.kmeansRuns < 0) throw new RangeError(`bench: kmeansRuns must be a non-negative integer, got ${cfg.kmeansRuns}`);
  if (cfg.heatMs !== undefined && !(cfg.heatMs >= 0)) throw new RangeError(`bench: heatMs must be >= 0, got ${cfg.heatMs}`);
  if (cfg.heads % cfg.kvHeads !== 0) throw new RangeError(`bench: heads (${cfg.heads}) must be a multiple of kvHeads (${cfg.kvHeads})`);
  if (cfg.clusters > cfg.context) throw new RangeError(`bench: more clusters (${cfg.clusters}) than tokens (${cfg.context})`);
  if (cfg.budgets.length === 0) throw new RangeError('bench: no budgets');
  for (const b of cfg.budgets) if (!Number.isInteger(b) || b <= 0 || b > cfg.context) throw new RangeError(`bench: budget ${b} must be in 1..context (${cfg.context})`);
  for (const k of cfg.kernels ?? []) kernelEntry(k);
}

/**
 * `runs` fenced wall samples after `warmup` runs, then `runs` kernel-time samples where measured, then the
 * steady-state wall time per run of `loop` runs back to back. Each sample is preceded by `burst` untimed runs
 * submitted right before it: the GPU is busy until the timed run starts, so short kernels are not timed at the
 * low clocks an idle GPU drops to between samples (on the H200 the same 50-us kernel measured up to 5x slower
 * without; bench/README.md).
 */
export async function timeRuns(run: () => tf.Tensor[], warmup: number, runs: number, bytes: number, opts: { burst?: number; loop?: number; heat?: () => Promise<void> } = {}): Promise<Timing> {
  const burst = opts.burst ?? 3;
  const heat = async (i: number) => {
    if (opts.heat && i % HEAT_EVERY === 0) await opts.heat();
  };
  const fire = (n: number) => {
    for (let i = 0; i < n; i++) tf.dispose(run());
  };
  for (let i = 0; i < warmup; i++) {
    const out = run();
    await fence(out);
    tf.dispose(out);
  }
  const wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    await heat(i);
    fire(burst);
    await fence([]);
    const t0 = performance.now();
    const out = run();
    await fence(out);
    wall.push(performance.now() - t0);
    tf.dispose(out);
  }
  const kernel: number[] = [];
  await heat(0);
  fire(burst);
  const probe = await kernelTime(run);
  if (probe !== undefined && probe > 0) {
    kernel.push(probe);
    for (let i = 1; i < runs; i++) {
      await heat(i);
      fire(burst);
      kernel.push((await kernelTime(run)) ?? NaN);
    }
  }
  let loopWallMs: number | undefined;
  if (opts.loop) {
    await heat(0);
    await fence([]);
    const t0 = performance.now();
    fire(opts.loop);
    await fence([]);
    loopWallMs = (performance.now() - t0) / opts.loop;
  }
  const wallMs = summarise(wall);
  const kernelMs = kernel.length && kernel.every(Number.isFinite) ? summarise(kernel) : undefined;
  const ms = (kernelMs ?? wallMs).median;
  return { wallMs, kernelMs, loopWallMs, bytes, achievedGBps: bytes / (ms * 1e-3) / 1e9 };
}

function shapeOf(cfg: KernelBenchConfig, budget: number): KernelShape {
  return { heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, context: cfg.context, clusters: cfg.clusters, budget, kmeansIters: cfg.kmeansIters, seed: cfg.seed, keyNoise: 1 };
}

/** Times every asked kernel on every asked path at cfg's shape. */
export async function runKernelBench(cfg: KernelBenchConfig, log: (line: string) => void = () => {}, onTimed?: (done: number, total: number, label: string) => void): Promise<KernelBenchReport> {
  validate(cfg);
  const list = kernelsFor(cfg.kvDtypes ?? ['f32']);
  const wanted = new Set(cfg.kernels ?? list.map((k) => k.name));
  if (cfg.kmeansRuns === 0) ['kmeans', 'kmeans-f16'].forEach((k) => wanted.delete(k));
  const entries = list.filter((k) => wanted.has(k.name)).sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
  // an f16 variant's op chain is the fp32 op chain after decoding (what parity checks), not a kernel to time
  const pathsOf = (entry: (typeof entries)[number]) => availablePaths(entry).filter((p) => (!cfg.paths || cfg.paths.includes(p)) && !(entry.kvDtype === 'f16' && p === 'ops'));
  const total = entries.reduce((n, e) => n + (e.perBudget ? cfg.budgets.length : 1) * pathsOf(e).length, 0);
  let done = 0;
  onTimed?.(0, total, 'inputs');
  const timings: KernelTiming[] = [];
  const { heads: H, kvHeads: G, context: T, headDim: d, clusters: K } = cfg;
  log(`shape: H ${H}, G ${G}, T ${T}, d ${d}, K ${K}, budgets ${cfg.budgets.join(', ')}${cfg.heatMs ? `, GPU heated ${cfg.heatMs} ms every ${HEAT_EVERY} samples` : ''}`);
  const heater = cfg.heatMs && tf.getBackend() === 'webgpu' ? gpuHeater() : undefined;
  const heat = heater && (() => heater.heat(cfg.heatMs!));
  try {
    for (const entry of entries) {
      const paths = pathsOf(entry);
      for (const budget of entry.perBudget ? cfg.budgets : [cfg.budgets[0]]) {
        const shape = shapeOf(cfg, budget);
        const prepared = entry.setup(shape);
        try {
          for (const path of paths) {
            // K-means runs for tens of ms: long enough to bring the GPU to speed by itself
            const kmeans = entry.name.startsWith('kmeans');
            const timing = await timeRuns(() => prepared.run(path), kmeans ? 1 : cfg.warmup, kmeans ? cfg.kmeansRuns : cfg.runs, entry.bytes(shape), kmeans ? { burst: 0, heat } : { loop: LOOP_RUNS, heat });
            timings.push({ kernel: entry.name, budget: entry.perBudget ? budget : null, path, timing });
          onTimed?.(++done, total, `${entry.name}${entry.perBudget ? ` B=${budget}` : ''} [${path}]`);
            log(`  ${entry.name}${entry.perBudget ? ` B=${budget}` : ''} [${path}]: ${timingMs(timing).toFixed(4)} ms${timing.kernelMs ? ' kernel' : ' wall'}, wall ${timing.wallMs.median.toFixed(4)} ms, ${timing.achievedGBps.toFixed(1)} GB/s`);
          }
        } finally {
          prepared.dispose();
        }
      }
    }
  } finally {
    heater?.dispose();
  }
  const at = (kernel: string) => timings.find((t) => t.kernel === kernel && t.path === 'wgsl')?.timing.achievedGBps;
  const [copy, read] = [at('copy'), at('read')];
  const sizes = plantedClusterSizes(shapeOf(cfg, cfg.budgets[0])).sort((a, b) => a - b);
  return {
    config: cfg,
    peak: copy !== undefined && read !== undefined ? { copyGBps: copy, readGBps: read } : undefined,
    timings,
    clusterSizes: { min: sizes[0], median: median(sizes), max: sizes[sizes.length - 1] },
  };
}

/** The timing of `kernel` on `path` (at `budget` for per-budget kernels), if the report has it. */
export function findTiming(report: KernelBenchReport, kernel: string, path: KernelPath, budget: number | null = null): Timing | undefined {
  return report.timings.find((t) => t.kernel === kernel && t.path === path && (t.budget === null || t.budget === budget))?.timing;
}

/** The paths a report timed. */
export function reportPaths(report: KernelBenchReport): KernelPath[] {
  return (['ops', 'wgsl'] as const).filter((p) => report.timings.some((t) => t.path === p));
}
