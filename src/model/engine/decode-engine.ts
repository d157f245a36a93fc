/**
 * A Llama-family decode engine on WebGPU: B sequences decode one token each per step, every layer in a few
 * custom WGSL dispatches, the whole step encoded in one command buffer (step-recorder.ts). tfjs op dispatch
 * (tens of us of JavaScript per op, ~30 ops per layer) would cost more than the GPU work of a step.
 *
 * Per step: embedding gather, then per layer
 *   rmsnorm + gemv q|k|v -> rope + KV append -> attention -> gemv o (+ residual)
 *   -> rmsnorm + gemv gate|up (+ SwiGLU) -> gemv down (+ residual)
 * (each norm the prologue of the GEMV that reads it: gemv.ts), then rmsnorm + gemv output head -> greedy
 * argmax in two passes (the next input token, and a history row; the host reads tokens back only when it
 * wants them). Attention runs on the whole batch at once (B G KV heads, B H
 * query heads) in the WGSL implementation dispatch picks for the shape and the cache's dtype
 * (src/gpu/bound-attention.ts): the subgroup kernels where the device has subgroups (f32 or f16 K/V), else
 * the flash-decoding kernels of decode-attention.ts:
 *   dense     partials over positions 0..pos, merge
 *   sparse    the method's selection dispatches (the selected positions per query head) -> token list (sinks,
 *             selected, open window: token-list.ts) -> sparse partials through the list -> merge
 * with the layers below the method's denseLayers always dense. Each sparse layer holds the method's batched
 * selector (src/sim/batched-selector.ts, declared with the method: ClusterKV's clustering and ranking,
 * Quest's pages, the oracle's exact top-B, ...), which reads the prompt from the KV cache once and plans
 * each step. The dispatches are bound once; between steps only small uniform blocks (position, counts,
 * splits) and the RoPE angles of the new position are rewritten.
 *
 * Buffers: the weights (device-weights.ts: f32 or f16), the KV cache (kv-cache.ts: f32 or f16, the engine's
 * own or a prefilled one it is given) and activations [B, ...] (f32); the residual stream ping-pongs between
 * x0 and x1 (a kernel never reads and writes one buffer). With `observe`, every layer keeps its own query
 * and token-list buffers, so that observers (needle recall) can read each layer's after a step.
 */
import type { WgslAttentionImplementation } from '../../gpu/attention.js';
import { boundAttentionImplementation, boundAttentionPass, type BoundAttentionPass } from '../../gpu/bound-attention.js';
import { queryGroupSize } from '../../gpu/heads.js';
import { mergeShader } from '../../gpu/wgsl/attention/decode-attention.js';
import { argmaxMergeShader, argmaxPartialBytes, argmaxPartialShader, argmaxPartialWorkgroups } from '../../gpu/wgsl/engine/argmax-token.js';
import { embedRowsShader, embedRowsWorkgroups } from '../../gpu/wgsl/engine/embed-rows.js';
import { defaultGemvTuning, gemvPlan, gemvShader, gemvWorkgroups, productBuffers, type GemvShape, type GemvTuning } from '../../gpu/wgsl/engine/gemv.js';
import { engineGemvShapes, type EngineGemv } from './gemv-shapes.js';
import { ropeKvAppendShader, ropeKvAppendWorkgroups } from '../../gpu/wgsl/engine/rope-kv-append.js';
import { halfRead, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import { deviceLimits, gpuIdle, trimBufferPool } from '../../gpu/wgsl/runtime/runtime.js';
import { bindDispatch, readBuffer, recordStep, storageBuffer, UniformBlock, writeBuffer, type BoundDispatch, type StepTiming, type TimestampLog } from '../../gpu/wgsl/runtime/step-recorder.js';
import { tokenListShader } from '../../gpu/wgsl/select/token-list.js';
import { listCapacity, referenceReason, type BatchedBudget, type BatchedLayer, type BatchedPlan, type BatchedSelector } from '../../sim/batched-selector.js';
import type { Method } from '../../sim/selector.js';
import { ropeFrequencies } from '../../trace/rope.js';
import type { EngineWeights } from './device-weights.js';
import { KvCache } from './kv-cache.js';
import { engineShapeProblem, qkvRows, type EngineShape } from './shape.js';

/** What a step attends: 'dense' every position; 'sparse' the method's selection in its sparse layers. */
export type EngineAttention = 'dense' | 'sparse';

export interface EngineOptions {
  weights: EngineWeights;
  /** sequences decoded together (1..8: the GEMV kernels' batch) */
  batch: number;
  /** KV positions per sequence (prompt + every decode step); with `cache`, at most its capacity */
  capacity: number;
  /** a KV cache to decode in (e.g. prefilled, or shared by engines of other methods): not destroyed by this engine */
  cache?: KvCache;
  /** the dtype of the cache the engine makes (default f32; ignored with `cache`) */
  kv?: StorageDType;
  /** the position of the first step (a prefilled cache: the prompt's length); default 0 */
  position?: number;
  /** keep each layer's queries and token lists (readQueries, readLayerTokenLists) */
  observe?: boolean;
  /** decode steps the token history holds */
  maxSteps: number;
  /**
   * the method a 'sparse' step runs (createMethod(...)): its batched selection (method.engine) in the layers
   * from its denseLayers on; 'full' attends densely; absent: dense only
   */
  method?: Method;
  /** the largest budget a step may ask for (default: the method's) */
  maxBudget?: number;
  /** GEMV work split (default: gemv.ts's defaultGemvTuning for the batch) */
  gemv?: GemvTuning;
}

export interface StepOptions {
  attention?: EngineAttention;
  /** the budget of this sparse step (default: the method's) */
  budget?: number;
  /** input tokens [B]; default: the tokens the previous step chose (greedy) */
  tokens?: ArrayLike<number>;
  timing?: StepTiming;
  log?: TimestampLog;
}

/** What one recorded step attends, for byte counts. */
export interface StepAttention {
  position: number;
  attention: EngineAttention;
  /** positions attended per query head in each sparse layer (sinks + selected + open window), 0 when dense */
  sparseList: number;
  /** selected (ranked) positions per query head in each sparse layer */
  selected: number;
  /** units per KV head the sparse layers' ranking chose among (ClusterKV's clusters, Quest's pages, ...; 0 for a method ranking tokens) */
  clusters: number;
  sparseLayers: number;
  /** chunks of the attention partials: each dense layer's (over pos + 1 positions) and each sparse layer's (over the list; 0 when dense) */
  splits: { dense: number; sparse: number };
  /** dispatches recorded */
  dispatches: number;
}

/** RoPE cos and sin of one position, float32 as model/rope.ts computes them: [d/2] pairs (cos, sin). */
export function ropeRow(position: number, headDim: number, theta: number): Float32Array {
  const freqs = ropeFrequencies(headDim, theta, 'f32');
  const out = new Float32Array(headDim);
  for (let i = 0; i < freqs.length; i++) {
    const angle = Math.fround(position * freqs[i]);
    out[2 * i] = Math.cos(angle);
    out[2 * i + 1] = Math.sin(angle);
  }
  return out;
}

interface LayerDispatches {
  /** the attention norm is the q|k|v GEMV's prologue, the FFN norm the gate|up GEMV's (gemv.ts, `norm`) */
  qkv: BoundDispatch;
  rope: BoundDispatch;
  densePartial: BoundDispatch;
  denseMerge: BoundDispatch;
  list?: BoundDispatch;
  sparsePartial?: BoundDispatch;
  sparseMerge?: BoundDispatch;
  wo: BoundDispatch;
  w13: BoundDispatch;
  w2: BoundDispatch;
}

export class DecodeEngine {
  readonly shape: EngineShape;
  readonly batch: number;
  readonly capacity: number;
  readonly cache: KvCache;
  /** the method a sparse step runs (absent: dense only) */
  readonly method?: Method;
  /** its shared budget parameters, where it has a batched selection */
  readonly selection?: BatchedBudget;
  /** the position the next step's token takes */
  position = 0;
  /** the windows' layout (closed windows) at the last trim of tfjs's pool after a sparse step (-1: none yet) */
  private trimmedWindows = -1;
  /** prompt length P once prefillSelection ran (-1 before) */
  prefillLength = -1;
  /** whether any prompt queries were handed to the selectors (handPromptQueries) */
  private promptQueriesHanded = false;
  /** steps recorded so far (the history row of the next one) */
  steps = 0;
  readonly maxSteps: number;
  readonly gemvPlans: Record<string, GemvTuning> = {};
  /** the weights the dispatches read (owned by the caller) */
  readonly weights: EngineWeights;
  private readonly maxBudget: number;
  private readonly listMax: number;
  private readonly buf: Record<'tokens' | 'history' | 'x0' | 'x1' | 'qkv' | 'q' | 'attn' | 'act' | 'logits' | 'argmaxPartial' | 'rope' | 'partO' | 'partML' | 'selected' | 'list', GPUBuffer>;
  /** per layer: its query and token-list buffers (each layer's own with `observe`, else the shared ones) */
  private readonly layerQ: GPUBuffer[];
  private readonly layerList: GPUBuffer[];
  private readonly extra: GPUBuffer[] = [];
  private readonly ownsCache: boolean;
  private readonly u: Record<'gemvQkv' | 'gemvO' | 'gemv13' | 'gemv2' | 'gemvOut' | 'rope' | 'embed' | 'argmax' | 'densePartial' | 'denseMerge' | 'list' | 'sparsePartial' | 'sparseMerge', UniformBlock>;
  private readonly layers: LayerDispatches[];
  private readonly head: { embed: BoundDispatch; output: BoundDispatch; argmaxPartial: BoundDispatch; argmax: BoundDispatch };
  /** the method's batched selector per sparse layer */
  private readonly sparse: { layer: number; selector: BatchedSelector }[] = [];
  /** scratch buffers the selectors share (BatchedLayer.scratch), by name */
  private readonly scratch = new Map<string, GPUBuffer>();
  private readonly group: number;
  /** the partial passes of dense and sparse attention (bound-attention.ts) */
  private readonly passes: { dense: BoundAttentionPass; sparse: BoundAttentionPass };

  constructor(opts: EngineOptions) {
    const s = opts.weights.shape;
    const problem = engineShapeProblem(s);
    if (problem) throw new RangeError(`decode engine: ${problem}`);
    if (!Number.isInteger(opts.batch) || opts.batch < 1 || opts.batch > 8) throw new RangeError(`decode engine: batch must be 1..8, got ${opts.batch}`);
    this.shape = s;
    this.weights = opts.weights;
    this.batch = opts.batch;
    if (opts.cache && (opts.cache.batch !== opts.batch || opts.cache.capacity < opts.capacity)) throw new RangeError(`decode engine: the given cache holds ${opts.cache.batch} sequences of ${opts.cache.capacity} positions, not ${opts.batch} of ${opts.capacity}`);
    this.capacity = opts.cache ? opts.cache.capacity : opts.capacity;
    this.position = opts.position ?? 0;
    this.maxSteps = opts.maxSteps;
    this.group = queryGroupSize(s.heads, s.kvHeads);
    this.method = opts.method;
    const form = opts.method?.engine;
    if (opts.method && (!form || form.kind === 'reference')) throw new RangeError(`decode engine: method '${opts.method.name}' runs on the reference path only${form ? ` (${referenceReason(form)})` : ''}`);
    const sel = (this.selection = form?.kind === 'batched' ? form.budget : undefined);
    this.maxBudget = sel ? Math.max(opts.maxBudget ?? 0, sel.budget) : 0;
    this.listMax = sel ? listCapacity(sel, this.maxBudget) : 0;
    this.cache = opts.cache ?? new KvCache(s, opts.batch, opts.capacity, opts.kv ?? 'f32');
    this.ownsCache = !opts.cache;
    const B = opts.batch;
    const H = B * s.heads;
    const G = B * s.kvHeads;
    const d = s.headDim;
    const read = halfRead();
    const kv = this.cache.dtype;
    const attentionShape = { H, G, d, kv, read };
    const implementation = boundAttentionImplementation(attentionShape);
    this.passes = { dense: boundAttentionPass(attentionShape, false, implementation), sparse: boundAttentionPass(attentionShape, true, implementation) };
    const splits = Math.max(this.passes.dense.maxSplits(this.capacity), this.listMax ? this.passes.sparse.maxSplits(this.listMax) : 0);
    const f32 = 4;
    this.buf = {
      tokens: storageBuffer(B * 4, 'tokens'),
      history: storageBuffer(Math.max(1, opts.maxSteps) * B * 4, 'history'),
      x0: storageBuffer(B * s.dim * f32, 'x0'),
      x1: storageBuffer(B * s.dim * f32, 'x1'),
      qkv: storageBuffer(B * qkvRows(s) * f32, 'qkv'),
      q: storageBuffer(H * d * f32, 'q'),
      attn: storageBuffer(H * d * f32, 'attn'),
      act: storageBuffer(B * s.hiddenDim * f32, 'act'),
      logits: storageBuffer(B * s.vocabSize * f32, 'logits'),
      argmaxPartial: storageBuffer(argmaxPartialBytes(s.vocabSize, B), 'argmax partials'),
      rope: storageBuffer(d * f32, 'rope'),
      partO: storageBuffer(H * splits * d * f32, 'partO'),
      partML: storageBuffer(H * splits * 2 * f32, 'partML'),
      selected: storageBuffer(H * Math.max(1, this.maxBudget) * 4, 'selected'),
      list: storageBuffer(H * Math.max(1, this.listMax) * 4, 'list'),
    };
    const blank = (n: number) => new Array<number>(n).fill(0);
    this.u = {
      gemvQkv: new UniformBlock([qkvRows(s), { f32: s.normEps }]),
      gemvO: new UniformBlock([s.dim]),
      gemv13: new UniformBlock([2 * s.hiddenDim, { f32: s.normEps }]),
      gemv2: new UniformBlock([s.dim]),
      gemvOut: new UniformBlock([s.vocabSize, { f32: s.normEps }]),
      rope: new UniformBlock([0, this.capacity]),
      embed: new UniformBlock([s.vocabSize, B]),
      argmax: new UniformBlock([s.vocabSize, 0]),
      densePartial: new UniformBlock(this.passes.dense.uniforms(this.capacity, 1)),
      denseMerge: new UniformBlock([1]),
      list: new UniformBlock(blank(4)),
      sparsePartial: new UniformBlock(this.passes.sparse.uniforms(this.capacity, 1)),
      sparseMerge: new UniformBlock([1]),
    };
    const storage = deviceLimits().workgroupStorage;
    const wdt = opts.weights.dtype;
    // `gain`: x is RMS-normalised in the GEMV's prologue with this gain; `extra`: the residual or bias
    const gemv = (name: EngineGemv, shape: GemvShape, uniform: UniformBlock, weight: GPUBuffer, x: GPUBuffer, y: GPUBuffer, label: string, more: { gain?: GPUBuffer; extra?: GPUBuffer } = {}): BoundDispatch => {
      const buffers = productBuffers(shape, { weights: weight, input: x, gain: more.gain, extra: more.extra, output: y }, `engine ${name}`);
      const full = { ...shape, weights: wdt, halfRead: read };
      const plan = gemvPlan(full, opts.gemv ?? defaultGemvTuning(B), storage);
      this.gemvPlans[name] = plan;
      return bindDispatch(gemvShader(full, plan), uniform, buffers, [gemvWorkgroups(full, plan)], 'gemv', label);
    };
    const b = this.buf;
    // with `observe` every layer (the first keeps the shared buffer) has its own; `own` names more layers that do
    const perLayer = (buffer: GPUBuffer, label: string, own: (l: number) => boolean = () => false) =>
      Array.from({ length: s.layers }, (_, l) => {
        if (l === 0 || !(opts.observe || own(l))) return buffer;
        const made = storageBuffer(buffer.size, `l${l} ${label}`);
        this.extra.push(made);
        return made;
      });
    // a method calibrated on the prompt's queries reads each sparse layer's after a dense prompt step (handStepQueries)
    const wantsQueries = form?.kind === 'batched' && form.promptQueries;
    this.layerQ = perLayer(b.q, 'q', (l) => wantsQueries && l >= sel!.denseLayers);
    this.layerList = perLayer(b.list, 'list');
    const mergeCode = mergeShader(d);
    const ropeCode = ropeKvAppendShader(B, s.heads, s.kvHeads, d, kv);
    this.layers = opts.weights.layers.map((w, l) => {
      const keys = this.cache.keys[l];
      const values = this.cache.values[l];
      const q = this.layerQ[l];
      const g = engineGemvShapes(s, B, !!w.bqkv);
      const layer: LayerDispatches = {
        qkv: gemv('qkv', g.qkv, this.u.gemvQkv, w.wqkv, b.x0, b.qkv, `l${l} rmsnorm+gemv qkv`, { gain: w.attnNorm, extra: w.bqkv }),
        rope: bindDispatch(ropeCode, this.u.rope, [b.qkv, b.rope, q, keys, values], ropeKvAppendWorkgroups(B, s.heads, s.kvHeads, d), 'other', `l${l} rope+append`),
        densePartial: bindDispatch(this.passes.dense.code, this.u.densePartial, [q, keys, values, b.partO, b.partML], this.passes.dense.workgroups(1), 'attention', `l${l} attention partials`),
        denseMerge: bindDispatch(mergeCode, this.u.denseMerge, [b.partO, b.partML, b.attn], [H], 'attention', `l${l} attention merge`),
        wo: gemv('o', g.o, this.u.gemvO, w.wo, b.attn, b.x1, `l${l} gemv o`, { extra: b.x0 }),
        w13: gemv('gate-up', g['gate-up'], this.u.gemv13, w.w13, b.x1, b.act, `l${l} rmsnorm+gemv gate|up`, { gain: w.ffnNorm }),
        w2: gemv('down', g.down, this.u.gemv2, w.w2, b.act, b.x0, `l${l} gemv down`, { extra: b.x1 }),
      };
      if (sel && l >= sel.denseLayers) {
        layer.list = bindDispatch(tokenListShader(H), this.u.list, [b.selected, this.layerList[l]], [1], 'selection', `l${l} token list`);
        layer.sparsePartial = bindDispatch(this.passes.sparse.code, this.u.sparsePartial, [q, keys, values, this.layerList[l], b.partO, b.partML], this.passes.sparse.workgroups(1), 'attention', `l${l} sparse partials`);
        layer.sparseMerge = bindDispatch(mergeCode, this.u.sparseMerge, [b.partO, b.partML, b.attn], [H], 'attention', `l${l} sparse merge`);
      }
      return layer;
    });
    if (form?.kind === 'batched') {
      for (let l = form.budget.denseLayers; l < s.layers; l++) this.sparse.push({ layer: l, selector: form.forLayer(this.batchedLayer(l)) });
    }
    this.head = {
      embed: bindDispatch(embedRowsShader(s.dim, wdt, read), this.u.embed, [b.tokens, opts.weights.embedding, b.x0], embedRowsWorkgroups(B, s.dim), 'other', 'embedding'),
      output: gemv('output', engineGemvShapes(s, B, false).output, this.u.gemvOut, opts.weights.output, b.x0, b.logits, 'final rmsnorm+gemv output head', { gain: opts.weights.finalNorm }),
      argmaxPartial: bindDispatch(argmaxPartialShader(), this.u.argmax, [b.logits, b.argmaxPartial], argmaxPartialWorkgroups(s.vocabSize, B), 'other', 'argmax partials'),
      argmax: bindDispatch(argmaxMergeShader(B), this.u.argmax, [b.argmaxPartial, b.tokens, b.history], [B], 'other', 'argmax'),
    };
  }

  /** The WGSL decode attention the steps run (bound-attention.ts: 'wgsl-subgroup' where the device has subgroups). */
  get attentionKernel(): WgslAttentionImplementation {
    return this.passes.dense.implementation;
  }

  /** Layers that run the method's selection in a 'sparse' step. */
  get sparseLayers(): number {
    return this.sparse.length;
  }

  /** A synthetic prompt of `prompt` positions in every layer (kv-cache.ts), as if prefilled. */
  fillPlantedPrompt(prompt: number, clusters: number, seed: number): void {
    if (this.position !== 0) throw new Error('decode engine: the planted prompt must come first');
    this.cache.fillPlanted(prompt, clusters, seed);
    this.position = prompt;
  }

  /**
   * The selectors' prompt: the positions 0..position-1 so far are the prompt; every sparse layer's selector
   * reads its keys (ClusterKV clusters them, ...). Call once, before the first 'sparse' step. Returns once the
   * work is queued (or, with `progress`, done layer by layer).
   */
  async prefillSelection(progress?: (layer: number, ms: number) => void): Promise<void> {
    if (!this.method) throw new Error('decode engine: no method was given');
    if (this.prefillLength >= 0) throw new Error('decode engine: the selection already has its prompt');
    const P = this.position;
    if (this.promptQueryLayers.length > 0 && !this.promptQueriesHanded) {
      throw new Error(`decode engine: method '${this.method.name}' fits on the prompt's queries and none were handed (prefill through EngineSession.prefill, or handPromptQueries / handStepQueries)`);
    }
    for (const { layer, selector } of this.sparse) {
      const t0 = performance.now();
      await selector.prefill(P);
      // with a progress callback each layer is waited for (a long clustering reports as it goes)
      if (progress) {
        await gpuIdle();
        progress(layer, performance.now() - t0);
      }
    }
    this.prefillLength = P;
  }

  /** Sparse layers whose selector takes the prompt's queries (BatchedSelector.promptQueries), ascending. */
  get promptQueryLayers(): number[] {
    return this.sparse.filter(({ selector }) => selector.promptQueries).map(({ layer }) => layer);
  }

  /**
   * Hands rows start..start+n-1 of sequence `seq`'s prompt queries of `layer` (post-RoPE, [n, H, d]) to its
   * selector, where it takes them (promptQueryLayers); before prefillSelection.
   */
  handPromptQueries(layer: number, seq: number, start: number, rows: Float32Array): void {
    if (this.prefillLength >= 0) throw new Error('decode engine: prompt queries after prefillSelection()');
    const entry = this.sparse.find((e) => e.layer === layer);
    if (!entry?.selector.promptQueries) throw new RangeError(`decode engine: layer ${layer}'s selection takes no prompt queries`);
    entry.selector.promptQueries(seq, start, rows);
    this.promptQueriesHanded = true;
  }

  /**
   * After a dense step of the prompt (the prompt run as decode steps, not prefilled): hands that step's
   * queries, row position - 1 of every sequence, to each selector that takes them. Waits for the GPU.
   */
  async handStepQueries(): Promise<void> {
    const { heads: H, headDim: d } = this.shape;
    const row = H * d;
    for (const layer of this.promptQueryLayers) {
      const q = await this.readQueries(layer); // [B H, d]
      for (let b = 0; b < this.batch; b++) this.handPromptQueries(layer, b, this.position - 1, q.subarray(b * row, (b + 1) * row));
    }
  }

  /** What the engine lends layer l's selector (batched-selector.ts). */
  private batchedLayer(l: number): BatchedLayer {
    const s = this.shape;
    return {
      layer: l,
      batch: this.batch,
      heads: s.heads,
      kvHeads: s.kvHeads,
      headDim: s.headDim,
      capacity: this.capacity,
      keys: this.cache.keys[l],
      keyDtype: this.cache.dtype,
      keyRows: (start, n) => this.cache.rows(l, start, n),
      queries: this.layerQ[l],
      selected: this.buf.selected,
      largestBudget: Math.max(1, this.maxBudget),
      scratch: (name, bytes) => {
        const have = this.scratch.get(name);
        if (have && have.size < bytes) throw new RangeError(`decode engine: scratch '${name}' of ${have.size} bytes asked for ${bytes}`);
        if (have) return have;
        const made = storageBuffer(bytes, `scratch ${name}`);
        this.scratch.set(name, made);
        return made;
      },
    };
  }

  /** Every sparse layer's plan of the step at `pos`; they must agree on the list (one token-list and attention uniform serves them all). */
  private planSelection(pos: number, budget: number): (BatchedPlan | undefined)[] {
    const plans: (BatchedPlan | undefined)[] = this.layers.map(() => undefined);
    let first: BatchedPlan | undefined;
    for (const { layer, selector } of this.sparse) {
      const plan = selector.step(pos, budget);
      first ??= plan;
      if (plan.selected !== first.selected || plan.listLength !== first.listLength) {
        throw new Error(`decode engine: layer ${layer} planned ${plan.selected} selected of ${plan.listLength} attended, layer ${this.sparse[0].layer} ${first.selected} of ${first.listLength}`);
      }
      plans[layer] = plan;
    }
    return plans;
  }

  /**
   * Records one decode step for the whole batch (one command buffer, submitted; nothing is read back).
   * Returns what it attended, for byte counts.
   */
  step(opts: StepOptions = {}): StepAttention {
    const s = this.shape;
    const B = this.batch;
    const H = B * s.heads;
    const d = s.headDim;
    const attention = opts.attention ?? 'dense';
    const pos = this.position;
    if (pos >= this.capacity) throw new RangeError(`decode engine: position ${pos} is past the cache capacity ${this.capacity}`);
    if (this.steps >= this.maxSteps) throw new RangeError(`decode engine: more than ${this.maxSteps} steps (the token history is full)`);
    if (opts.tokens) {
      if (opts.tokens.length !== B) throw new RangeError(`decode engine: ${opts.tokens.length} tokens given for a batch of ${B}`);
      writeBuffer(this.buf.tokens, Int32Array.from(opts.tokens));
    }
    writeBuffer(this.buf.rope, ropeRow(pos, d, s.ropeTheta));
    this.u.rope.write([pos, this.capacity]);
    this.u.argmax.write([s.vocabSize, this.steps]);
    const denseSplits = this.passes.dense.splits(pos + 1);
    this.u.densePartial.write(this.passes.dense.uniforms(this.capacity, pos + 1));
    this.u.denseMerge.write([denseSplits]);
    const info: StepAttention = { position: pos, attention, sparseList: 0, selected: 0, clusters: 0, sparseLayers: 0, splits: { dense: denseSplits, sparse: 0 }, dispatches: 0 };
    // a sparse step: every sparse layer plans it (closing windows, ...); layers without a selector stay dense
    let plans: (BatchedPlan | undefined)[] = [];
    let listWorkgroups: [number, number] = [0, 0];
    let planned: BatchedPlan | undefined;
    if (attention === 'sparse') {
      if (!this.method) throw new Error('decode engine: a sparse step needs a method');
      if (this.prefillLength < 0) throw new Error('decode engine: prefillSelection() must run before a sparse step');
      const budget = opts.budget ?? this.selection?.budget ?? 0;
      if (budget > this.maxBudget) throw new RangeError(`decode engine: budget ${budget} exceeds the largest budget the engine was sized for (${this.maxBudget})`);
      plans = this.planSelection(pos, budget);
      const plan = (planned = plans.find((p) => p !== undefined));
      if (plan) {
        const { layout, selected, listLength: total } = plan;
        const listSplits = this.passes.sparse.splits(total);
        listWorkgroups = this.passes.sparse.workgroups(total);
        this.u.list.write([selected, layout.sinkEnd, layout.openStart, total]);
        this.u.sparsePartial.write(this.passes.sparse.uniforms(this.capacity, total));
        this.u.sparseMerge.write([listSplits]);
        Object.assign(info, { sparseList: total, selected, clusters: plan.units, sparseLayers: this.sparseLayers, splits: { dense: denseSplits, sparse: listSplits } });
      }
    }
    const list: BoundDispatch[] = [this.head.embed];
    for (const [l, layer] of this.layers.entries()) {
      list.push(layer.qkv, layer.rope);
      const plan = plans[l];
      if (plan && layer.sparsePartial) {
        list.push(...plan.dispatches);
        layer.list!.workgroups[0] = Math.ceil((H * info.sparseList) / 256);
        [layer.sparsePartial.workgroups[0], layer.sparsePartial.workgroups[1]] = listWorkgroups;
        list.push(layer.list!, layer.sparsePartial, layer.sparseMerge!);
      } else {
        [layer.densePartial.workgroups[0], layer.densePartial.workgroups[1]] = this.passes.dense.workgroups(pos + 1);
        list.push(layer.densePartial, layer.denseMerge);
      }
      list.push(layer.wo, layer.w13, layer.w2);
    }
    list.push(this.head.output, this.head.argmaxPartial, this.head.argmax);
    info.dispatches = list.length;
    recordStep(list, opts.timing ?? 'none', opts.log, this.steps);
    // the selectors rebuild their state when the windows' layout changes, releasing tensors of sizes no
    // later request matches (every layer's old state, SelectionBytes.rebuilt): once the step is submitted,
    // tfjs's pool lets them go (trimBufferPool)
    if (planned && planned.layout.closedWindows !== this.trimmedWindows) {
      trimBufferPool();
      this.trimmedWindows = planned.layout.closedWindows;
    }
    this.position++;
    this.steps++;
    return info;
  }

  /**
   * The token lists [B H, n] the last 'sparse' step attended in its last sparse layer (the list buffer is
   * reused layer by layer), n = its sparseList. Waits for the GPU.
   */
  async readTokenLists(n: number): Promise<Int32Array> {
    return new Int32Array(await readBuffer(this.layerList[this.shape.layers - 1], this.batch * this.shape.heads * n * 4));
  }

  /** Queries [B H, d] of `layer` at the last step (post-RoPE; every layer's with `observe` or where the method takes prompt queries, else the last layer's). Waits for the GPU. */
  async readQueries(layer: number): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.layerQ[layer], this.batch * this.shape.heads * this.shape.headDim * 4));
  }

  /** The token lists [B H, n] a sparse layer attended at the last 'sparse' step (needs `observe`, or the last sparse layer). */
  async readLayerTokenLists(layer: number, n: number): Promise<Int32Array> {
    return new Int32Array(await readBuffer(this.layerList[layer], this.batch * this.shape.heads * n * 4));
  }

  /** Logits [B, vocab] of the last step (waits for the GPU). */
  async readLogits(): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.buf.logits, this.batch * this.shape.vocabSize * 4));
  }

  /** Tokens chosen by the last `count` steps' argmax, [count][B] (waits for the GPU). */
  async readHistory(count = this.steps): Promise<Int32Array[]> {
    const first = this.steps - count;
    const raw = new Int32Array(await readBuffer(this.buf.history, count * this.batch * 4, first * this.batch * 4));
    return Array.from({ length: count }, (_, i) => raw.slice(i * this.batch, (i + 1) * this.batch));
  }

  dispose(): void {
    for (const { selector } of this.sparse) selector.dispose();
    for (const b of this.scratch.values()) b.destroy();
    for (const b of Object.values(this.buf)) b.destroy();
    for (const u of Object.values(this.u)) u.destroy();
    for (const b of this.extra) b.destroy();
    if (this.ownsCache) this.cache.destroy();
  }
}
