/**
 * The GPU kernel benchmark of DESIGN.md: one ClusterKV decode step, stage by stage, against dense
 * attention on the same backend in the same run, plus prompt clustering (K-means over all KV heads).
 *
 * Stages of a ClusterKV step (per query head, GQA):
 *   score    centroid scores q . c                         [H, K]
 *   rank     full sort of the K scores (tf.topk, k = K)    [H, K]
 *   index    ranked clusters -> B token positions          [H, B]
 *   gather   K and V rows of those positions               2 x [H, B, d]
 *   attend   softmax attention over the gathered rows      [H, d]
 * Timing: a sample runs the stage `batch` times (default 1) and is fenced (a one-element readback of the
 * last output, src/gpu/timing.ts) before and after, so wall time counts finished GPU work, tfjs's
 * JavaScript dispatch included. Where the backend has GPU timestamp queries (webgpu with
 * 'timestamp-query'), tf.time's kernelMs (the sum of the kernel durations, no JavaScript scheduling or
 * readback) is recorded as well: the GPU's own time, the number to read. With batch > 1 on webgpu,
 * independent runs overlap on the GPU and kernel durations overlap too, so kernelMs overstates; keep 1.
 * On the H200, kernel times of one shape drift upward over a process's life (up to ~3x), so GPU runs time
 * each context in a fresh process (bench/gpu-host-run.sh). The paired samples (dense and ClusterKV step
 * alternating, pairedSpeedup) record an interference, not the speed-up: a dense run right after a
 * ClusterKV step runs slower.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendGathered, denseAttention, gatherPerHead } from '../../gpu/attention.js';
import { buildClusterIndex, disposeClusterIndex, type ClusterIndex } from '../../gpu/cluster-index.js';
import { cosineKMeans } from '../../gpu/kmeans.js';
import { mulberry32 } from '../../gpu/random.js';
import { defaultRanking, rankClusters, rankedTokens, scoreCentroids, type RankingMethod } from '../../gpu/selection.js';
import { fence, kernelMs, summarise, timeStage, timingMs, type Timing } from './timing.js';
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
  /** runs per timed sample, back to back (the sample is their mean) */
  batch: number;
  kmeansIters: number;
  /** K-means timing runs (each a full 20-iteration clustering) */
  kmeansRuns: number;
  seed: number;
}

export const DESIGN_BENCH: KernelBenchConfig = {
  context: 32768, heads: 32, kvHeads: 8, headDim: 128, clusters: 400, budgets: [2048, 1024],
  warmup: 10, runs: 50, batch: 1, kmeansIters: 20, kmeansRuns: 5, seed: 0,
};


export interface BudgetResult {
  budget: number;
  stages: Record<'score' | 'rank' | 'index' | 'gather' | 'attend', Timing>;
  /** the whole ClusterKV step, all stages back to back */
  clusterkvStep: Timing;
  /** dense / ClusterKV step time (kernel time where measured) */
  speedup: number;
  /** dense / ClusterKV step from alternating samples: ratio quantiles (records interference; not the speed-up) */
  pairedSpeedup: ReturnType<typeof summarise>;
  /** the ranking the rank stage and the step use (defaultRanking; absent in older reports) */
  ranking?: RankingMethod;
  /** the rank stage with the other ranking method, for comparison */
  otherRanking?: { method: RankingMethod; timing: Timing };
  /** the alternating samples themselves: dense and ClusterKV step times */
  pairedDenseMs: ReturnType<typeof summarise>;
  pairedStepMs: ReturnType<typeof summarise>;
}

export interface KernelBenchReport {
  config: KernelBenchConfig;
  dense: Timing;
  budgets: BudgetResult[];
  kmeans?: { iters: number; timing: Timing };
  clusterSizes: { min: number; median: number; max: number };
}

type Stage = () => tf.Tensor | tf.Tensor[];

function validate(cfg: KernelBenchConfig): void {
  for (const key of ['context', 'heads', 'kvHeads', 'headDim', 'clusters', 'runs', 'batch', 'kmeansRuns'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] <= 0) throw new RangeError(`bench: ${key} must be a positive integer, got ${cfg[key]}`);
  }
  if (cfg.heads % cfg.kvHeads !== 0) throw new RangeError(`bench: heads (${cfg.heads}) must be a multiple of kvHeads (${cfg.kvHeads})`);
  if (cfg.clusters > cfg.context) throw new RangeError(`bench: more clusters (${cfg.clusters}) than tokens (${cfg.context})`);
  for (const b of cfg.budgets) if (!Number.isInteger(b) || b <= 0 || b > cfg.context) throw new RangeError(`bench: budget ${b} must be in 1..context (${cfg.context})`);
}

/**
 * Times `stage` in `runs` samples of `batch` back-to-back runs each, after `warmup` runs; every output is
 * disposed. Sample = batch time / batch.
 */
export async function timeRepeated(stage: Stage, warmup: number, runs: number, bytes: number, batch = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) {
    const out = stage();
    await fence(out);
    tf.dispose(out);
  }
  const runBatch = () => {
    for (let i = 0; i < batch - 1; i++) tf.dispose(stage());
    return stage();
  };
  const wall: number[] = [];
  const kernel: number[] = [];
  // each sample starts when the previous one's fence has returned: the GPU is idle
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = runBatch();
    await fence(out);
    wall.push((performance.now() - t0) / batch);
    tf.dispose(out);
  }
  const probe = await kernelMs(runBatch);
  if (probe !== undefined && probe > 0) {
    kernel.push(probe / batch);
    for (let i = 1; i < runs; i++) kernel.push((await kernelMs(runBatch))! / batch);
  }
  const wallMs = summarise(wall);
  const kernelStats = kernel.length ? summarise(kernel) : undefined;
  const ms = kernelStats ? kernelStats.median : wallMs.median;
  return { wallMs, kernelMs: kernelStats, bytes, achievedGBps: bytes / (ms * 1e-3) / 1e9 };
}

/** Paired timing of two stages: quantiles of each one's time and of the per-pair ratio a / b. */
export interface PairedTiming {
  ratio: ReturnType<typeof summarise>;
  aMs: ReturnType<typeof summarise>;
  bMs: ReturnType<typeof summarise>;
}

/** `runs` alternating single runs of a and b (kernel time where measured, else fenced wall). */
export async function pairedTiming(a: Stage, b: Stage, runs: number): Promise<PairedTiming> {
  const once = async (stage: Stage) => {
    const kernel = await kernelMs(stage);
    if (kernel !== undefined && kernel > 0) return kernel;
    const { result, wallMs } = await timeStage(stage, (out) => [out].flat());
    tf.dispose(result);
    return wallMs;
  };
  const [ta, tb, ratios]: number[][] = [[], [], []];
  for (let i = 0; i < runs; i++) {
    ta.push(await once(a));
    tb.push(await once(b));
    ratios.push(ta[i] / tb[i]);
  }
  return { ratio: summarise(ratios), aMs: summarise(ta), bMs: summarise(tb) };
}

/**
 * Pseudo-random values in [-1, 1) made on the device (a sine hash of the element index), so that
 * 131K-token inputs need no host-side generation or upload. shape: any; seed: any integer.
 */
function deviceNoise(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const i = tf.range(0, n, 1, 'int32'); // int32: float32 indices past 2^24 would repeat
    const lo = tf.cast(tf.mod(i, tf.scalar(65521, 'int32')), 'float32');
    const hi = tf.cast(tf.floorDiv(i, tf.scalar(65521, 'int32')), 'float32');
    const h = tf.mul(tf.sin(tf.add(tf.mul(lo, 12.9898), tf.add(tf.mul(hi, 78.233), seed % 1000))), 43758.5453);
    return tf.reshape(tf.sub(tf.mul(tf.sub(h, tf.floor(h)), 2), 1), shape);
  });
}

/**
 * Keys with cluster structure: K planted topic directions plus noise, topic weights uneven (so cluster
 * sizes vary as in real traces). Returns keys [G, T, d], planted labels [G, T] and centres [G, K, d].
 */
function plantedKeys(cfg: KernelBenchConfig, rand: () => number): { keys: tf.Tensor3D; labels: tf.Tensor2D; centres: tf.Tensor3D } {
  const { kvHeads: G, context: T, headDim: d, clusters: K } = cfg;
  const weights = Array.from({ length: K }, () => 0.2 + 2.8 * rand());
  const cdf = weights.map(((sum) => (w: number) => (sum += w))(0));
  const total = cdf[K - 1];
  const labelData = new Int32Array(G * T);
  for (let i = 0; i < labelData.length; i++) {
    const u = rand() * total;
    let lo = 0;
    let hi = K - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    labelData[i] = lo;
  }
  const seed = Math.floor(rand() * 1e6);
  return tf.tidy(() => {
    const centres = tf.mul(deviceNoise([G, K, d], seed), 1.7) as tf.Tensor3D;
    const labels = tf.tensor2d(labelData, [G, T], 'int32');
    const rows = tf.add(labels, tf.mul(tf.expandDims(tf.range(0, G, 1, 'int32'), 1), tf.scalar(K, 'int32')));
    const base = tf.reshape(tf.gather(tf.reshape(centres, [G * K, d]), rows), [G, T, d]);
    const keys = tf.add(base, deviceNoise([G, T, d], seed + 1)) as tf.Tensor3D;
    return { keys, labels, centres };
  });
}

/**
 * clustering 'kmeans' runs (and times) the real prompt clustering and selects from its clusters;
 * 'planted' uses the generator's own clusters (for long contexts, where a K-means one-hot of
 * [G, T, K] would not fit a WebGPU buffer) and times no K-means.
 */
export async function runKernelBench(cfg: KernelBenchConfig, clustering: 'kmeans' | 'planted' = 'kmeans', log: (line: string) => void = () => {}): Promise<KernelBenchReport> {
  validate(cfg);
  const { heads: H, kvHeads: G, context: T, headDim: d, clusters: K } = cfg;
  const rand = mulberry32(cfg.seed);
  const planted = plantedKeys(cfg, rand);
  const keys = planted.keys;
  const values = deviceNoise([G, T, d], Math.floor(rand() * 1e6) + 2) as tf.Tensor3D;
  const qSeed = Math.floor(rand() * 1e6) + 3;
  const q = tf.tidy(() => tf.mul(deviceNoise([H, d], qSeed), 1.7)) as tf.Tensor2D;
  await fence([keys, values, q]);
  const f32 = 4;
  try {
    let kmeansTiming: Timing | undefined;
    let centroids: tf.Tensor3D;
    let labels: tf.Tensor2D;
    if (clustering === 'kmeans') {
      log(`kmeans: ${G} KV heads x ${T} tokens x d ${d} -> ${K} clusters, ${cfg.kmeansIters} iterations`);
      const clusterOnce = () => {
        const r = cosineKMeans(keys, K, { iters: cfg.kmeansIters, seed: cfg.seed });
        return [r.centroids, r.labels];
      };
      // one K-means iteration reads the keys twice (assign, update) and writes labels
      const kmeansBytes = cfg.kmeansIters * (2 * G * T * d * f32 + G * T * 4);
      kmeansTiming = await timeRepeated(clusterOnce, 1, cfg.kmeansRuns, kmeansBytes);
      log(`  median ${kmeansTiming.wallMs.median.toFixed(2)} ms wall`);
      ({ centroids, labels } = cosineKMeans(keys, K, { iters: cfg.kmeansIters, seed: cfg.seed }));
      tf.dispose([planted.labels, planted.centres]);
    } else {
      centroids = planted.centres;
      labels = planted.labels;
    }
    const index: ClusterIndex = buildClusterIndex(labels, K);
    labels.dispose();
    const sizes = Array.from(await index.sizes.data()).sort((a, b) => a - b);
    try {
      log(`dense attention: H ${H}, G ${G}, T ${T}, d ${d}`);
      const denseStage = () => denseAttention(q, keys, values);
      const dense = await timeRepeated(denseStage, cfg.warmup, cfg.runs, 2 * G * T * d * f32 + 2 * H * d * f32, cfg.batch);
      const budgets: BudgetResult[] = [];
      for (const B of cfg.budgets) {
        log(`clusterkv step: B ${B}, K ${K}`);
        const scores = scoreCentroids(q, centroids);
        const ranked = rankClusters(scores);
        const tokens = rankedTokens(ranked, index, B);
        const kSel = gatherPerHead(keys, tokens);
        const vSel = gatherPerHead(values, tokens);
        await fence([scores, ranked, tokens, kSel, vSel]);
        const gatherBytes = 2 * (H * B * 4 + 2 * H * B * d * f32);
        const stages = {
          score: await timeRepeated(() => scoreCentroids(q, centroids), cfg.warmup, cfg.runs, G * K * d * f32 + H * d * f32 + H * K * f32, cfg.batch),
          rank: await timeRepeated(() => rankClusters(scores), cfg.warmup, cfg.runs, 2 * H * K * f32, cfg.batch),
          index: await timeRepeated(() => rankedTokens(ranked, index, B), cfg.warmup, cfg.runs, H * K * 4 * 3 + 2 * H * B * 4, cfg.batch),
          gather: await timeRepeated(() => [gatherPerHead(keys, tokens), gatherPerHead(values, tokens)], cfg.warmup, cfg.runs, gatherBytes, cfg.batch),
          attend: await timeRepeated(() => attendGathered(q, kSel, vSel), cfg.warmup, cfg.runs, 2 * H * B * d * f32 + 2 * H * d * f32, cfg.batch),
        };
        const ranking = defaultRanking();
        const other: RankingMethod = ranking === 'topk' ? 'compare' : 'topk';
        const otherRanking = { method: other, timing: await timeRepeated(() => rankClusters(scores, other), cfg.warmup, cfg.runs, 2 * H * K * f32, cfg.batch) };
        const stepBytes = Object.values(stages).reduce((s, t) => s + t.bytes, 0);
        const stepStage = () => tf.tidy(() => {
          const tok = rankedTokens(rankClusters(scoreCentroids(q, centroids)), index, B);
          return attendGathered(q, gatherPerHead(keys, tok), gatherPerHead(values, tok));
        });
        const clusterkvStep = await timeRepeated(stepStage, cfg.warmup, cfg.runs, stepBytes, cfg.batch);
        const paired = await pairedTiming(denseStage, stepStage, cfg.runs);
        tf.dispose([scores, ranked, tokens, kSel, vSel]);
        budgets.push({ budget: B, stages, clusterkvStep, speedup: timingMs(dense) / timingMs(clusterkvStep), pairedSpeedup: paired.ratio, pairedDenseMs: paired.aMs, pairedStepMs: paired.bMs, ranking, otherRanking });
        log(`  dense ${timingMs(dense).toFixed(3)} ms, clusterkv ${timingMs(clusterkvStep).toFixed(3)} ms, speed-up ${(timingMs(dense) / timingMs(clusterkvStep)).toFixed(2)}x`);
      }
      return {
        config: cfg,
        dense,
        budgets,
        kmeans: kmeansTiming && { iters: cfg.kmeansIters, timing: kmeansTiming },
        clusterSizes: { min: sizes[0], median: sizes[Math.floor(sizes.length / 2)], max: sizes[sizes.length - 1] },
      };
    } finally {
      centroids.dispose();
      disposeClusterIndex(index);
    }
  } finally {
    tf.dispose([keys, values, q]);
  }
}
