/**
 * One use of the engine: B sequences of one model with one decode attention, sized before anything is
 * allocated (footprint.ts), the cache prefilled on the GPU (prefill.ts), then decoded (decode-engine.ts).
 * Generation, comparison, capture and the passkey eval are built on it (engine-generate.ts,
 * engine-compare.ts, engine-capture.ts, model/passkey/engine-decode.ts).
 *
 * Which attentions the engine runs (engineAttentionOf) is the method's declared engine form (method.engine,
 * src/sim/batched-selector.ts): dense (`full`, and plain dense attention), its batched selection ('sparse':
 * oracle, clusterkv with either scoring, clusterkv-refine, quest, infllm, streaming, random, h2o, infinigen
 * top-b), or the reference path only, with the method's reason: the tfjs op path then runs it, and the runtime
 * says so (runtime.ts). A method fit on the prompt's queries (infinigen) gets them from prefill().
 */
import type { Method } from '../../sim/selector.js';
import { referenceReason, UNDECLARED_ENGINE } from '../../sim/batched-selector.js';
import { DecodeEngine, type EngineAttention, type StepAttention, type StepOptions } from './decode-engine.js';
import { resolveDType, type DTypeChoice, type EngineModel } from './engine-model.js';
import { checkFootprint, type EngineFootprint } from './footprint.js';
import { KvCache } from './kv-cache.js';
import { Prefill, prefillChunkFor, type PrefillHooks } from './prefill.js';
import { gpuIdle } from '../../gpu/wgsl/runtime/runtime.js';
import { readBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import type { StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';

/** 'dense', or a Method. */
export type EngineChoice = 'dense' | Method;

/** How the engine runs a choice, or why it cannot (the tfjs op path then runs it). */
export type EngineAttentionPlan = { attention: EngineAttention; method?: Method } | { problem: string };

export function engineAttentionOf(choice: EngineChoice): EngineAttentionPlan {
  if (choice === 'dense') return { attention: 'dense' };
  const form = choice.engine;
  if (form?.kind === 'dense') return { attention: 'dense' };
  if (form?.kind === 'batched') return { attention: 'sparse', method: choice };
  return { problem: `${choice.name} runs on the reference path only (${referenceReason(form) ?? UNDECLARED_ENGINE.reason})` };
}

export interface EngineSessionOptions {
  attention: EngineChoice;
  /** sequences decoded together (1..8) */
  batch?: number;
  /** KV positions per sequence: prompt + decode steps */
  capacity: number;
  /** decode steps the token history holds */
  maxSteps: number;
  /** the KV cache's dtype (default auto: the weights' precision rule, engine-model.ts) */
  kv?: DTypeChoice;
  /** prefill rows per chunk */
  prefillChunk?: number;
  /** keep every layer's queries and token lists (observers) */
  observe?: boolean;
  /** a cache to decode in instead of a new one (its prompt already prefilled; not destroyed here) */
  cache?: KvCache;
  /** the largest budget a sparse step may ask for (default: the method's) */
  maxBudget?: number;
}

export class EngineSession {
  readonly engine: DecodeEngine;
  readonly cache: KvCache;
  readonly attention: EngineAttention;
  readonly method?: Method;
  readonly kv: StorageDType;
  readonly footprint: EngineFootprint;
  /** prompt rows per prefill chunk (opts.prefillChunk or the default, at most the cache's capacity) */
  readonly prefillChunk: number;
  private prefillRun?: Prefill;
  private readonly ownsCache: boolean;

  constructor(
    readonly model: EngineModel,
    readonly opts: EngineSessionOptions,
  ) {
    const plan = engineAttentionOf(opts.attention);
    if ('problem' in plan) throw new RangeError(`decode engine: ${plan.problem}`);
    this.attention = plan.attention;
    this.method = plan.method;
    const batch = opts.batch ?? 1;
    this.kv = opts.cache ? opts.cache.dtype : resolveDType(opts.kv ?? 'auto', model.stored);
    const w = model.weights;
    this.prefillChunk = prefillChunkFor(opts.cache?.capacity ?? opts.capacity, opts.prefillChunk);
    const form = this.method?.engine;
    const selection = form?.kind === 'batched' ? { name: this.method!.name, engine: form, largestBudget: Math.max(1, opts.maxBudget ?? 0, form.budget.budget) } : undefined;
    this.footprint = checkFootprint(
      { shape: model.shape, weights: w.dtype, kv: this.kv, batch, capacity: opts.capacity, tied: w.tied, prefillChunk: opts.cache ? 0 : this.prefillChunk, selection, cacheExists: !!opts.cache },
      `${model.source.name} with ${batch} sequence${batch === 1 ? '' : 's'} of ${opts.capacity} positions`,
    );
    this.cache = opts.cache ?? new KvCache(model.shape, batch, opts.capacity, this.kv);
    this.ownsCache = !opts.cache;
    try {
      this.engine = new DecodeEngine({ weights: w, batch, capacity: opts.capacity, maxSteps: opts.maxSteps, cache: this.cache, method: this.method, maxBudget: opts.maxBudget, observe: opts.observe });
    } catch (err) {
      if (this.ownsCache) this.cache.destroy();
      throw err;
    }
  }

  get batch(): number {
    return this.engine.batch;
  }

  /**
   * Prefills sequence `seq` with `tokens` at positions start.. (queued; with hooks, or a method taking the
   * prompt's queries, done). The prompt's queries go to the selectors that take them (InfiniGen's fit), and
   * to those of `alsoTo` (sessions that decode from a copy of this cache).
   */
  async prefill(seq: number, tokens: readonly number[], start = 0, hooks?: PrefillHooks, alsoTo: readonly EngineSession[] = []): Promise<void> {
    this.prefillRun ??= new Prefill(this.model.weights, this.cache, this.prefillChunk);
    await this.prefillRun.run(seq, tokens, start, withPromptQueries([this.engine, ...alsoTo.map((s) => s.engine)], seq, start, hooks));
  }

  /** Logits [V] after the last prefilled token (waits). */
  async prefillLogits(): Promise<Float32Array> {
    if (!this.prefillRun) throw new Error('engine session: nothing was prefilled');
    return this.prefillRun.readLogits();
  }

  /** The greedy token after the last prefilled token (waits). */
  async prefillToken(): Promise<number> {
    if (!this.prefillRun) throw new Error('engine session: nothing was prefilled');
    return this.prefillRun.readToken();
  }

  /**
   * Every sequence holds a prompt of P positions: decoding starts at P. The method's selectors read the
   * prompt here (ClusterKV clusters it; `progress` sees each sparse layer done).
   */
  async start(P: number, progress?: (layer: number, ms: number) => void): Promise<void> {
    this.engine.position = P;
    if (this.attention === 'sparse') await this.engine.prefillSelection(progress);
  }

  /** One decode step for the batch (the session's attention). */
  step(opts: Omit<StepOptions, 'attention'> = {}): StepAttention {
    return this.engine.step({ ...opts, attention: this.attention });
  }

  /** The prefill's buffers can go (the decode no longer needs them). */
  releasePrefill(): void {
    this.prefillRun?.dispose();
    this.prefillRun = undefined;
  }

  async dispose(): Promise<void> {
    await gpuIdle();
    this.prefillRun?.dispose();
    this.engine.dispose();
    if (this.ownsCache) this.cache.destroy();
  }
}

/**
 * `hooks` with an onLayer that also copies each chunk's queries [n, H, d] of the layers whose selectors take
 * them (DecodeEngine.promptQueryLayers) to those engines; `hooks` itself when no engine takes any.
 */
export function withPromptQueries(engines: readonly DecodeEngine[], seq: number, start: number, hooks: PrefillHooks = {}): PrefillHooks {
  const takers = engines.map((engine) => ({ engine, layers: new Set(engine.promptQueryLayers) })).filter((t) => t.layers.size > 0);
  if (takers.length === 0) return hooks;
  const row = engines[0].shape.heads * engines[0].shape.headDim;
  return {
    ...hooks,
    async onLayer(layer, chunkStart, n, q, attn) {
      const wanted = takers.filter((t) => t.layers.has(layer));
      if (wanted.length > 0) {
        const rows = new Float32Array(await readBuffer(q, n * row * 4));
        for (const { engine } of wanted) engine.handPromptQueries(layer, seq, start + chunkStart, rows);
      }
      await hooks.onLayer?.(layer, chunkStart, n, q, attn);
    },
  };
}
