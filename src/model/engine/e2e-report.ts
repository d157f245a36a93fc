/**
 * The JSON of `clusterkv e2e` (one process) and of its merge over processes (bench/run.ts, suite e2e), as zod
 * schemas: one format for both; src/sim/bench/merge-runs.ts reads them with an error naming the file and field.
 */
import { z } from 'zod';

const quantiles = z.object({ median: z.number(), p10: z.number(), p90: z.number(), runs: z.number().int() });
export type E2eQuantiles = z.infer<typeof quantiles>;

/** Bytes one decode step moves (kernel loads and stores, fp32), by what they are. */
const stepBytes = z.object({
  /** every weight matrix and gain, once per step (shared by the batch) */
  weights: z.number(),
  /** K and V rows the attention kernels read (dense: every position once per KV head; sparse: each query head's list) */
  kv: z.number(),
  /** centroids, cluster index, selected positions and token lists */
  selection: z.number(),
  /** activations, attention partials, logits */
  activations: z.number(),
  total: z.number(),
});
export type E2eStepBytes = z.infer<typeof stepBytes>;

/** Summed GPU time per step of each kind of dispatch (instrumented steps: one timed pass per dispatch). */
const breakdown = z.object({
  steps: z.number().int(),
  /** ms per step by category (gemv, attention, selection, other) */
  categoryMs: z.record(z.string(), z.number()),
  /** ms per step by kind of dispatch: its label less the layer ('rmsnorm+gemv qkv', 'attention merge', 'argmax partials', ...) */
  kindMs: z.record(z.string(), z.number()).optional(),
  /** time between the passes (barriers, launches): the instrumented span minus the summed passes */
  gapsMs: z.number(),
  /** begin of the first pass to end of the last, instrumented */
  spanMs: z.number(),
  dispatches: z.number().int(),
});

export const e2eModeSchema = z.object({
  /** 'dense' or 'clusterkv' */
  attention: z.enum(['dense', 'clusterkv']),
  /** ClusterKV budget B (null for dense) */
  budget: z.number().int().nullable(),
  /** ms per token in a stream of back-to-back steps: end of a step's GPU work to the end of the next one's */
  msPerToken: quantiles,
  /** GPU span of each step (begin to end of its one pass) */
  spanMs: quantiles,
  /** wall time per token of each timed block (submit to GPU idle, / steps) */
  wallMsPerToken: quantiles,
  bytes: stepBytes,
  /** bytes.total / median ms per token */
  achievedGBps: z.number(),
  /** achievedGBps / the read ceiling of the same run */
  ofReadCeiling: z.number().nullable(),
  breakdown: breakdown.nullable(),
  /** positions attended per query head in a sparse layer (sinks + selected + open window), median over steps */
  sparseList: z.number().nullable(),
  /** dense median ms / this median ms (same process) */
  speedup: z.number().nullable(),
  /** dense bytes / this mode's bytes */
  boundSpeedup: z.number().nullable(),
  /** speedup / boundSpeedup */
  ofBound: z.number().nullable(),
  /** GB/s of the GEMVs (weight bytes / gemv ms) and of attention (K/V bytes / attention ms), instrumented steps */
  efficiency: z.object({ gemvGBps: z.number(), attentionGBps: z.number() }).nullable().optional(),
  /**
   * ClusterKV: how many distinct rows the query heads of a KV head attend together (one sparse layer of one
   * step): the mean per KV head and its share of the rows the kernel reads per query head
   */
  sharedRows: z.object({ perKvHead: z.number(), ofListRows: z.number() }).nullable().optional(),
  /** dense bytes / this mode's bytes with the sparse layers' K and V rows counted once per KV head */
  boundSpeedupShared: z.number().nullable().optional(),
});
export type E2eMode = z.infer<typeof e2eModeSchema>;

export const e2eRunSchema = z.object({
  kind: z.literal('clusterkv-e2e-bench'),
  created: z.string(),
  backend: z.string(),
  adapter: z.record(z.string(), z.unknown()).nullable(),
  versions: z.record(z.string(), z.string()),
  config: z.object({
    shape: z.object({ dim: z.number(), hiddenDim: z.number(), layers: z.number(), heads: z.number(), kvHeads: z.number(), headDim: z.number(), vocabSize: z.number(), ropeTheta: z.number(), normEps: z.number() }),
    context: z.number().int(),
    batch: z.number().int(),
    budgets: z.array(z.number().int()),
    steps: z.number().int(),
    warmup: z.number().int(),
    rounds: z.number().int(),
    seed: z.number().int(),
    /** ClusterKV's parameters as resolved (createMethod) */
    clusterkv: z.record(z.string(), z.unknown()),
    plantedClusters: z.number().int(),
    gemv: z.record(z.string(), z.object({ threadsPerRow: z.number(), rowsPerThread: z.number(), unroll: z.number() })),
    /** how the weights and the KV cache are stored (runs before f16 storage: both f32) */
    dtypes: z.object({ weights: z.enum(['f32', 'f16']), kv: z.enum(['f32', 'f16']) }).optional(),
    /** where the weights came from (seeded random on the device, or a checkpoint) */
    weightsSource: z.string().optional(),
    /** the WGSL decode attention the engine ran (runs before the subgroup kernels: absent, the flash-decoding 'wgsl') */
    attentionKernel: z.string().optional(),
  }),
  timing: z.string(),
  /** read ceiling: copy.ts's read kernel over a large buffer, same process */
  readCeiling: z.object({ bytes: z.number(), ms: z.number(), GBps: z.number() }).nullable(),
  setup: z.object({ weightsMs: z.number(), promptFillMs: z.number(), weightBytes: z.number(), kvBytesPerLayer: z.number() }),
  /** K-means of every sparse layer's prompt keys (all sequences' KV heads at once) and the index */
  promptClustering: z.object({ wallMs: z.number(), kmeansKernelMs: z.number().nullable(), layers: z.number().int(), clusters: z.number().int(), tokens: z.number().int(), iters: z.number().int() }),
  modes: z.array(e2eModeSchema),
  /** tokens the last dense and ClusterKV steps chose for sequence 0 (a sanity record: the model really ran) */
  sampleTokens: z.record(z.string(), z.array(z.number().int())),
  /** the last step's logits are all finite (no NaN or infinity from the random model) */
  logitsFinite: z.boolean(),
});
export type E2eRun = z.infer<typeof e2eRunSchema>;

/** One configuration (context, batch, attention, budget) over several processes. */
export const e2eMergedRowSchema = z.object({
  context: z.number().int(),
  batch: z.number().int(),
  attention: z.enum(['dense', 'clusterkv']),
  budget: z.number().int().nullable(),
  processes: z.number().int(),
  /** median over processes of each process's median ms/token, and the spread of those medians */
  msPerToken: z.object({ median: z.number(), min: z.number(), max: z.number() }),
  /** median over processes of the per-process p10 and p90 */
  p10: z.number(),
  p90: z.number(),
  /** per process: dense / this, in the same process; median, min, max */
  speedup: z.object({ median: z.number(), min: z.number(), max: z.number() }).nullable(),
  boundSpeedup: z.number().nullable(),
  ofBound: z.number().nullable(),
  bytesPerToken: z.number(),
  achievedGBps: z.number(),
  ofReadCeiling: z.number().nullable(),
  /** median over processes of the breakdown (ms per step) */
  breakdownMs: z.record(z.string(), z.number()).nullable(),
  /** the instrumented steps' ms by kind of dispatch (median over processes), where the runs recorded it */
  kindMs: z.record(z.string(), z.number()).nullable().optional(),
  promptClusteringMs: z.number().nullable(),
  /** median over processes: the bound with the sparse layers' rows counted once per KV head */
  boundSpeedupShared: z.number().nullable().optional(),
  /** median over processes: GEMV and attention GB/s (instrumented steps) */
  gemvGBps: z.number().nullable().optional(),
  attentionGBps: z.number().nullable().optional(),
});
export type E2eMergedRow = z.infer<typeof e2eMergedRowSchema>;

export const e2eMergedSchema = z.object({
  kind: z.literal('clusterkv-e2e-bench-merged'),
  created: z.string(),
  note: z.string(),
  readCeilingGBps: z.object({ median: z.number(), min: z.number(), max: z.number() }).nullable(),
  rows: z.array(e2eMergedRowSchema),
  /** processes that failed (configuration and the last line they printed) */
  failures: z.array(z.object({ file: z.string(), reason: z.string() })),
  runs: z.array(e2eRunSchema),
});
export type E2eMerged = z.infer<typeof e2eMergedSchema>;
