/**
 * The end-to-end decode benchmark (issue 11, item 3): the engine with a model of Llama-3-8B's shape and
 * seeded random weights made on the device (or a checkpoint's weights: --model, e.g. a random checkpoint
 * of a real shape, src/model/random-checkpoint.ts), f32 or f16, B sequences whose KV caches (f32 or f16)
 * hold a synthetic prompt of `context` positions with planted clusters (no prefill: decode speed does not
 * depend on what the keys say), ClusterKV's prompt clustering timed on its own, then decode steps dense and
 * ClusterKV (each budget) on the same engine, interleaved in rounds so that drift over the process's life
 * hits every mode alike. What the configuration needs is checked against the device first (footprint.ts):
 * one that cannot fit is one line naming the bytes and the limit.
 *
 * Times (GPU timestamps, decode-engine.ts records a step as one pass):
 *   msPerToken      in a block of back-to-back steps, end of one step's pass to the end of the next: the
 *                   token rate of a steady decode stream (the first step of a block only gives spanMs)
 *   spanMs          begin to end of each step's pass
 *   wallMsPerToken  a block's wall time from its first submit to GPU idle, per step
 *   breakdown       a few more steps with one timed pass per dispatch: ms per category, and the gaps
 * Bytes: what the kernels load and store per step (weights once per step for the whole batch; K and V rows
 * per KV head for dense attention, per query head's list for sparse; selection and activations), against
 * the read ceiling of copy.ts's read kernel measured in the same process.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gpuAdapterInfo } from '../../gpu/backend.js';
import type { GemvTuning } from '../../gpu/wgsl/engine/gemv.js';
import { gpuIdle, hasTimestamps, startKernelTimer, stopKernelTimer, webgpuBackend } from '../../gpu/wgsl/runtime/runtime.js';
import { TimestampLog } from '../../gpu/wgsl/runtime/step-recorder.js';
import { summarise } from '../../sim/bench/timing.js';
import { medianPerKey } from '../../sim/quantile.js';
import { createMethod } from '../../sim/methods/index.js';
import { packageVersions } from '../../sim/versions.js';
import { clusterkvParams, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { DecodeEngine, type StepAttention } from './decode-engine.js';
import { STORAGE_BYTES, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import { randomEngineWeights, type EngineWeights } from './device-weights.js';
import { ModelError } from '../errors.js';
import { checkFootprint, formatBytes } from './footprint.js';
import type { E2eMode, E2eRun, E2eStepBytes } from './e2e-report.js';
import { readCeiling } from './read-ceiling.js';
import { firstTokenId } from '../../trace/seeds.js';
import { stepBytes } from './step-bytes.js';
import { kvBytes, weightBytesPerStep, type EngineShape } from './shape.js';

export interface E2eBenchConfig {
  shape: EngineShape;
  /** prompt positions P in every sequence's cache */
  context: number;
  batch: number;
  /** ClusterKV budgets (none: dense only) */
  budgets: number[];
  /** timed steps per mode (over all rounds) */
  steps: number;
  warmup: number;
  rounds: number;
  /** instrumented steps per mode (one timed pass per dispatch) */
  breakdownSteps: number;
  seed: number;
  /** ClusterKV parameters other than the budget (createMethod names), e.g. { iters: 20 } */
  clusterkv: Record<string, number>;
  gemv?: GemvTuning;
  /** bytes of the read-ceiling buffer (capped at the device's binding limit) */
  ceilingBytes: number;
  /** the weights' dtype (random weights; default f32) */
  weightsDtype?: StorageDType;
  /** the KV cache's dtype (default f32) */
  kvDtype?: StorageDType;
  /** a checkpoint's weights on the device (loadEngineModel), its shape `shape`; absent: seeded random weights */
  weights?: EngineWeights;
}

export const E2E_DEFAULTS = { contexts: [8192, 16384, 32768], batches: [1, 8], budgets: [1024, 2048], steps: 16, warmup: 3, rounds: 2, breakdownSteps: 2, seed: 0, ceilingBytes: 1 << 30 };

export const E2E_TIMING =
  'msPerToken: GPU timestamps, end of one step to the end of the next in back-to-back blocks (one command buffer and one compute pass per step); spanMs: begin to end of a step; wallMsPerToken: block wall time to GPU idle / steps; breakdown: instrumented steps, one timed pass per dispatch';

/** A benched mode as the report names it: dense, or ClusterKV (the engine's sparse step) under a budget. */
interface ModeSpec {
  attention: 'dense' | 'clusterkv';
  budget: number | null;
}

interface ModeRecord {
  spec: ModeSpec;
  log?: TimestampLog;
  /** which passes of the log start a block */
  blockStarts: Set<number>;
  walls: number[];
  infos: StepAttention[];
  historyRows: number[];
  breakdown: E2eMode['breakdown'];
  shared: E2eMode['sharedRows'];
}

function modeName(m: ModeSpec): string {
  return m.attention === 'dense' ? 'dense' : `clusterkv B=${m.budget}`;
}

function meanBytes(all: E2eStepBytes[]): E2eStepBytes {
  const mean = (k: keyof E2eStepBytes) => all.reduce((s, b) => s + b[k], 0) / all.length;
  return { weights: mean('weights'), kv: mean('kv'), selection: mean('selection'), activations: mean('activations'), total: mean('total') };
}

/**
 * Rows the R query heads of each KV head attend together: lists [G R, n] -> the mean union size per KV head,
 * and its share of the R n rows the sparse kernel reads (1: no two heads share a row; 1/R: all share all).
 * Empty slots (negative positions) are no rows: neither in the union nor among the rows read.
 */
export function sharedRows(lists: Int32Array, kvHeads: number, group: number, n: number): NonNullable<E2eMode['sharedRows']> {
  let total = 0;
  let read = 0;
  for (let g = 0; g < kvHeads; g++) {
    const seen = new Set<number>();
    for (let i = g * group * n; i < (g + 1) * group * n; i++) {
      if (lists[i] < 0) continue;
      seen.add(lists[i]);
      read++;
    }
    total += seen.size;
  }
  const perKvHead = total / kvHeads;
  return { perKvHead, ofListRows: read > 0 ? total / read : 1 };
}

/** The kind of a dispatch from its label: the label less its layer ('l3 gemv qkv' -> 'gemv qkv'). */
export function dispatchKind(label: string): string {
  return label.replace(/^l\d+ /, '');
}

/** ms per category and per kind of dispatch over instrumented steps (median of each), from a log of one pass per dispatch. */
function breakdownOf(log: TimestampLog, stamps: Float64Array): NonNullable<E2eMode['breakdown']> {
  const bySteps = new Map<number, typeof log.passes>();
  for (const p of log.passes) {
    const list = bySteps.get(p.step) ?? [];
    list.push(p);
    bySteps.set(p.step, list);
  }
  const perStep = [...bySteps.values()].map((passes) => {
    const cat: Record<string, number> = {};
    const kind: Record<string, number> = {};
    let sum = 0;
    for (const p of passes) {
      const ms = (stamps[p.end] - stamps[p.begin]) / 1e6;
      cat[p.categories[0]] = (cat[p.categories[0]] ?? 0) + ms;
      const k = dispatchKind(p.labels[0]);
      kind[k] = (kind[k] ?? 0) + ms;
      sum += ms;
    }
    const span = (stamps[passes[passes.length - 1].end] - stamps[passes[0].begin]) / 1e6;
    return { cat, kind, span, gaps: span - sum, dispatches: passes.length };
  });
  const med = (xs: number[]) => summarise(xs).median;
  return {
    steps: perStep.length,
    categoryMs: medianPerKey(perStep.map((s) => s.cat)),
    kindMs: medianPerKey(perStep.map((s) => s.kind)),
    gapsMs: med(perStep.map((s) => s.gaps)),
    spanMs: med(perStep.map((s) => s.span)),
    dispatches: perStep[0]?.dispatches ?? 0,
  };
}

/** One (context, batch) configuration in this process. */
export async function runE2eBench(cfg: E2eBenchConfig, log: (line: string) => void = () => {}): Promise<E2eRun> {
  const { shape, batch: B, context: P } = cfg;
  const budgets = [...cfg.budgets];
  const maxBudget = budgets.length ? Math.max(...budgets) : 1;
  const method = createMethod('clusterkv', { ...cfg.clusterkv, budget: maxBudget, seed: cfg.seed, diagnostics: false });
  const params = clusterkvParams(method);
  const modes: ModeSpec[] = [{ attention: 'dense', budget: null }, ...budgets.map((b) => ({ attention: 'clusterkv' as const, budget: b }))];
  const totalSteps = modes.length * (cfg.warmup + cfg.steps + cfg.breakdownSteps + 1) + 1;
  const wdt = cfg.weights?.dtype ?? cfg.weightsDtype ?? 'f32';
  const kv = cfg.kvDtype ?? 'f32';
  const dtypes = { weights: wdt, kv };
  const form = method.engine;
  const selection = budgets.length && form?.kind === 'batched' ? { name: method.name, engine: form, largestBudget: maxBudget, prompt: P } : undefined;
  const footprint = checkFootprint({ shape, weights: wdt, kv, batch: B, capacity: P + totalSteps, tied: cfg.weights?.tied ?? false, selection }, `${wdt} weights, ${kv} KV`);
  const { device } = webgpuBackend();
  const timed = hasTimestamps();
  if (!timed) log('no timestamp-query on this device: times are wall-clock only (a software adapter?)');
  // an allocation past the card's memory or a rejected command fails silently in WebGPU: caught here, so
  // that no run reports times of work that never ran
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let scopes = 2;
  const popScopes = async (): Promise<void> => {
    const errors: (GPUError | null)[] = [];
    for (; scopes > 0; scopes--) errors.push(await device.popErrorScope());
    const [validation, memory] = errors;
    if (memory) throw new ModelError(`the device ran out of memory (the configuration needs ${formatBytes(footprint.total)}: ${footprint.parts}): ${memory.message.split('\n')[0]}`);
    if (validation) throw new Error(`WebGPU rejected a command, so the times would be of work that never ran: ${validation.message.split('\n')[0]}`);
  };

  let t0 = performance.now();
  const weights = cfg.weights ?? randomEngineWeights(shape, cfg.seed, wdt);
  await gpuIdle();
  const weightsMs = performance.now() - t0;
  const engine = new DecodeEngine({ weights, batch: B, capacity: P + totalSteps, maxSteps: totalSteps, method: budgets.length ? method : undefined, maxBudget, gemv: cfg.gemv, kv });
  try {
    const plan = promptClustering(params, P);
    const planted = Math.max(1, plan.clusters);
    t0 = performance.now();
    engine.fillPlantedPrompt(P, planted, cfg.seed);
    await gpuIdle();
    const promptFillMs = performance.now() - t0;
    log(`B=${B} T=${P}: ${wdt} weights ${(weightBytesPerStep(shape, B, wdt) / 1e9).toFixed(2)} GB (${weights.source}) in ${weightsMs.toFixed(0)} ms, ${kv} prompt KV ${((kvBytes(shape, P, kv) * B) / 1e9).toFixed(2)} GB in ${promptFillMs.toFixed(0)} ms, ${engine.attentionKernel} attention`);

    let clustering: E2eRun['promptClustering'] = { wallMs: 0, kmeansKernelMs: null, layers: 0, clusters: plan.clusters, tokens: plan.tokens, iters: params.iters };
    if (budgets.length) {
      if (timed) startKernelTimer(4 * shape.layers + 8);
      t0 = performance.now();
      await engine.prefillSelection((l, ms) => {
        if (l === params.denseLayers || l === shape.layers - 1) log(`  clustered layer ${l} in ${ms.toFixed(0)} ms`);
      });
      await gpuIdle();
      const wallMs = performance.now() - t0;
      const kmeansKernelMs = timed ? ((await stopKernelTimer()) ?? null) : null;
      clustering = { wallMs, kmeansKernelMs, layers: engine.sparseLayers, clusters: plan.clusters, tokens: plan.tokens, iters: params.iters };
      log(`prompt clustering: ${engine.sparseLayers} layers x ${B * shape.kvHeads} KV heads, ${plan.tokens} tokens into ${plan.clusters} clusters, ${params.iters} iterations: ${wallMs.toFixed(0)} ms wall${kmeansKernelMs !== null ? `, K-means kernels ${kmeansKernelMs.toFixed(0)} ms` : ''}`);
    }
    const ceiling = await readCeiling(cfg.ceilingBytes, cfg.seed + 1);
    if (ceiling) log(`read ceiling: ${ceiling.GBps.toFixed(0)} GB/s (${(ceiling.bytes / 2 ** 20).toFixed(0)} MiB in ${ceiling.ms.toFixed(3)} ms)`);

    // first input tokens: seeded ids; later steps feed back their own argmax
    const first = Int32Array.from({ length: B }, (_, b) => firstTokenId(cfg.seed, b, shape.vocabSize));
    let given = false;
    const step = (m: ModeSpec, timing: 'none' | 'span' | 'dispatch', tlog?: TimestampLog) => {
      const info = engine.step({ attention: m.attention === 'dense' ? 'dense' : 'sparse', budget: m.budget ?? undefined, timing, log: tlog, tokens: given ? undefined : first });
      given = true;
      return info;
    };
    for (const m of modes) for (let i = 0; i < cfg.warmup; i++) step(m, 'none');
    await gpuIdle();

    const records: ModeRecord[] = modes.map((spec) => ({ spec, log: timed ? new TimestampLog(2 * cfg.steps + 2) : undefined, blockStarts: new Set(), walls: [], infos: [], historyRows: [], breakdown: null, shared: null }));
    const perRound = Array.from({ length: cfg.rounds }, (_, r) => Math.floor(cfg.steps / cfg.rounds) + (r < cfg.steps % cfg.rounds ? 1 : 0));
    for (const n of perRound) {
      for (const rec of records) {
        if (n === 0) continue;
        if (rec.log) rec.blockStarts.add(rec.log.passes.length);
        const start = performance.now();
        for (let i = 0; i < n; i++) {
          rec.historyRows.push(engine.steps);
          rec.infos.push(step(rec.spec, 'span', rec.log));
        }
        await gpuIdle();
        rec.walls.push((performance.now() - start) / n);
      }
    }
    if (timed && cfg.breakdownSteps > 0) {
      for (const rec of records) {
        const perStep = rec.infos[0]?.dispatches ?? 400;
        const steps = Math.max(1, Math.min(cfg.breakdownSteps, Math.floor(4096 / (2 * perStep))));
        const blog = new TimestampLog(Math.min(4096, 2 * perStep * steps));
        for (let i = 0; i < steps; i++) {
          step(rec.spec, 'dispatch', blog);
          await gpuIdle();
        }
        rec.breakdown = breakdownOf(blog, await blog.read());
        blog.destroy();
      }
    }

    // how much the query heads of a KV head share: the union of their lists in one sparse layer of one step
    for (const rec of records) {
      if (rec.spec.attention !== 'clusterkv' || engine.sparseLayers === 0) continue;
      const info = step(rec.spec, 'none');
      rec.shared = sharedRows(await engine.readTokenLists(info.sparseList), B * shape.kvHeads, shape.heads / shape.kvHeads, info.sparseList);
    }
    const history = await engine.readHistory();
    const lastLogits = await engine.readLogits();
    const logitsFinite = lastLogits.every((v) => Number.isFinite(v));
    if (!logitsFinite) log('warning: the last step produced non-finite logits');
    const out: E2eMode[] = [];
    for (const rec of records) {
      const stamps = rec.log ? await rec.log.read() : undefined;
      const intervals: number[] = [];
      const spans: number[] = [];
      if (stamps && rec.log) {
        rec.log.passes.forEach((p, i) => {
          spans.push((stamps[p.end] - stamps[p.begin]) / 1e6);
          if (!rec.blockStarts.has(i)) intervals.push((stamps[p.end] - stamps[rec.log!.passes[i - 1].end]) / 1e6);
        });
        rec.log.destroy();
      }
      const walls = summarise(rec.walls);
      const msPerToken = intervals.length ? summarise(intervals) : walls;
      const bytes = meanBytes(rec.infos.map((info) => stepBytes(shape, B, info, dtypes)));
      const achievedGBps = bytes.total / msPerToken.median / 1e6;
      out.push({
        attention: rec.spec.attention,
        budget: rec.spec.budget,
        msPerToken,
        spanMs: spans.length ? summarise(spans) : walls,
        wallMsPerToken: walls,
        bytes,
        achievedGBps,
        ofReadCeiling: ceiling ? achievedGBps / ceiling.GBps : null,
        breakdown: rec.breakdown,
        efficiency: rec.breakdown ? { gemvGBps: bytes.weights / (rec.breakdown.categoryMs.gemv ?? NaN) / 1e6, attentionGBps: bytes.kv / (rec.breakdown.categoryMs.attention ?? NaN) / 1e6 } : null,
        sharedRows: rec.shared,
        boundSpeedupShared: null,
        sparseList: rec.spec.attention === 'clusterkv' ? summarise(rec.infos.map((i) => i.sparseList)).median : null,
        speedup: null,
        boundSpeedup: null,
        ofBound: null,
      });
    }
    const dense = out[0];
    for (const m of out.slice(1)) {
      m.speedup = dense.msPerToken.median / m.msPerToken.median;
      m.boundSpeedup = dense.bytes.total / m.bytes.total;
      m.ofBound = m.speedup / m.boundSpeedup;
      if (m.sharedRows) {
        // K and V rows of the sparse layers counted once per KV head instead of once per query head
        const sparseKv = STORAGE_BYTES[kv] * engine.sparseLayers * 2 * B * shape.heads * (m.sparseList ?? 0) * shape.headDim;
        const uniqueKv = sparseKv * m.sharedRows.ofListRows;
        m.boundSpeedupShared = dense.bytes.total / (m.bytes.total - sparseKv + uniqueKv);
      }
    }
    for (const m of out) {
      const eff = m.efficiency ? `; gemv ${m.efficiency.gemvGBps.toFixed(0)} GB/s, attention ${m.efficiency.attentionGBps.toFixed(0)} GB/s` : '';
      const shared = m.sharedRows ? `; heads of a KV head share: ${(100 * m.sharedRows.ofListRows).toFixed(0)}% of their list rows are distinct, bound with shared rows ${m.boundSpeedupShared!.toFixed(3)}x` : '';
      log(`${modeName(m)}: ${m.msPerToken.median.toFixed(3)} ms/token (p10 ${m.msPerToken.p10.toFixed(3)}, p90 ${m.msPerToken.p90.toFixed(3)}), ${(m.bytes.total / 1e9).toFixed(2)} GB/step, ${m.achievedGBps.toFixed(0)} GB/s${m.speedup ? `, speed-up ${m.speedup.toFixed(3)}x of bound ${m.boundSpeedup!.toFixed(3)}x` : ''}${eff}${shared}`);
    }
    const sampleTokens = Object.fromEntries(records.map((rec) => [modeName(rec.spec), rec.historyRows.slice(-4).map((row) => history[row][0])]));
    await popScopes();
    return {
      kind: 'clusterkv-e2e-bench',
      created: new Date().toISOString(),
      backend: tf.getBackend(),
      adapter: gpuAdapterInfo() ?? null,
      versions: packageVersions(),
      config: { shape, context: P, batch: B, budgets, steps: cfg.steps, warmup: cfg.warmup, rounds: cfg.rounds, seed: cfg.seed, clusterkv: { ...method.params, budget: budgets }, plantedClusters: planted, gemv: engine.gemvPlans, dtypes, weightsSource: weights.source, attentionKernel: engine.attentionKernel },
      timing: E2E_TIMING,
      readCeiling: ceiling,
      setup: { weightsMs, promptFillMs, weightBytes: weightBytesPerStep(shape, B, wdt), kvBytesPerLayer: engine.cache.layerBytes },
      promptClustering: clustering,
      modes: out,
      sampleTokens,
      logitsFinite,
    };
  } catch (err) {
    await popScopes(); // an allocation past the memory or a rejected command explains a failure better than what it caused
    throw err;
  } finally {
    engine.dispose();
    if (!cfg.weights) weights.dispose();
    await gpuIdle();
  }
}
