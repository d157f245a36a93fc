/**
 * The engine's prefill: a prompt's tokens through every layer in chunks of up to `chunk` rows, on the GPU,
 * writing their keys and values straight into the engine's KV cache (kv-cache.ts, any dtype), so that
 * decode (decode-engine.ts) continues from it. Per chunk of n rows at positions p0..p0+n-1 of sequence seq:
 *   embedding -> per layer: rmsnorm -> gemm q|k|v (+ bias) -> RoPE + KV append (cache rows p0..) ->
 *   causal attention over the cache rows 0..p0+i -> gemm o (+ residual) -> rmsnorm -> gemm gate|up (+ SwiGLU)
 *   -> gemm down (+ residual)
 * then, for the prompt's last row only, rmsnorm -> GEMV output head -> logits [V] and their argmax. The
 * kernels are the engine's own (src/gpu/wgsl/engine/gemm.ts, attention/prefill-attention.ts, and the
 * decode's rmsnorm, embedding and RoPE kernels in their prefill layouts), reading the weights in their
 * stored dtype.
 *
 * Why WGSL kernels rather than tfjs matMuls on the shared device: tfjs's matMul cannot read f16 weights
 * (the engine would need an f32 copy of every matrix: 32 GB at 8B, twice the f16 weights), a tfjs chunk is
 * ~30 ops per layer, each with its own dispatch and uniform upload, and its attention materialises the
 * [n, T] scores; here a chunk is 8 dispatches per layer in one command buffer, and attention is
 * flash-style. docs/DESIGN.md ("The model runtime") records the measurement and the reasoning.
 *
 * Hooks: after each layer of a chunk, `onLayer` sees the chunk's post-RoPE queries q [n, H, d] and attention
 * output [n, H d] (buffers valid until the next layer runs): capture copies the decode rows out of them.
 */
import { prefillAttentionShader, prefillAttentionWorkgroups, prefillQueryBlock } from '../../gpu/wgsl/attention/prefill-attention.js';
import { argmaxMergeShader, argmaxPartialBytes, argmaxPartialShader, argmaxPartialWorkgroups } from '../../gpu/wgsl/engine/argmax-token.js';
import { embedRowsShader, embedRowsWorkgroups } from '../../gpu/wgsl/engine/embed-rows.js';
import { gemmShader, gemmWorkgroups, type GemmShape } from '../../gpu/wgsl/engine/gemm.js';
import { defaultGemvTuning, gemvPlan, gemvShader, gemvWorkgroups } from '../../gpu/wgsl/engine/gemv.js';
import { rmsNormShader } from '../../gpu/wgsl/engine/rms-norm.js';
import { ropeKvAppendShader, ropeKvAppendWorkgroups } from '../../gpu/wgsl/engine/rope-kv-append.js';
import { halfRead } from '../../gpu/wgsl/engine/storage-dtype.js';
import { deviceLimits, gpuIdle } from '../../gpu/wgsl/runtime/runtime.js';
import { bindDispatch, readBuffer, recordCopies, recordStep, storageBuffer, UniformBlock, writeBuffer, type BoundDispatch } from '../../gpu/wgsl/runtime/step-recorder.js';
import { ModelError } from '../errors.js';
import { ropeRow } from './decode-engine.js';
import type { EngineWeights } from './device-weights.js';
import type { KvCache } from './kv-cache.js';
import { qkvRows } from './shape.js';

/**
 * Default rows per prefill chunk (a session caps it at its capacity). Measured on an H100, ckvlab-passkey-9m at a
 * 16K prompt (bench/README.md, "H100"): 12.2K / 22.7K / 34.1K / 33.3K / 39.7K / 39.5K / 38.5K prefill tokens/s at
 * 256 / 512 / 1024 / 2048 / 4096 / 8192 / 16384 rows. The causal attention runs one workgroup per (block of
 * queries, head): at 512 rows and 6 heads that is 96 workgroups, fewer than the card's 132 SMs.
 */
export const PREFILL_CHUNK = 4096;

/** The rows per chunk a cache of `capacity` positions uses: `chunk` (default PREFILL_CHUNK), at most the capacity. */
export function prefillChunkFor(capacity: number, chunk = PREFILL_CHUNK): number {
  return Math.max(1, Math.min(chunk, capacity));
}

export interface PrefillHooks {
  /** after each layer of each chunk: rows start..start+n-1 of the prompt, their queries and attention outputs */
  onLayer?: (layer: number, start: number, n: number, q: GPUBuffer, attn: GPUBuffer) => Promise<void> | void;
  /** after each chunk: prompt tokens done, of all (the chunk is waited for) */
  progress?: (done: number, total: number) => void;
}

interface LayerDispatches {
  norm1: BoundDispatch;
  qkv: BoundDispatch;
  rope: BoundDispatch;
  attention: BoundDispatch;
  wo: BoundDispatch;
  norm2: BoundDispatch;
  w13: BoundDispatch;
  w2: BoundDispatch;
}

export class Prefill {
  /** rows per chunk */
  readonly chunk: number;
  /** queries per workgroup of the causal attention (prefill-attention.ts, within the device's workgroup memory) */
  private readonly queryBlock: number;
  private readonly buf: Record<'tokens' | 'x0' | 'x1' | 'xn' | 'qkv' | 'q' | 'attn' | 'act' | 'rope' | 'last' | 'lastNorm' | 'logits' | 'argmaxPartial' | 'token' | 'history', GPUBuffer>;
  private readonly u: Record<'embed' | 'norm' | 'gemm' | 'rope' | 'attention' | 'gemvOut' | 'argmax', UniformBlock>;
  private readonly embed: BoundDispatch;
  private readonly layers: LayerDispatches[];
  private readonly head: BoundDispatch[];

  constructor(
    readonly weights: EngineWeights,
    readonly cache: KvCache,
    chunk = PREFILL_CHUNK,
  ) {
    const s = weights.shape;
    if (cache.shape.layers !== s.layers || cache.shape.kvHeads !== s.kvHeads || cache.shape.headDim !== s.headDim) throw new RangeError('prefill: the cache was made for another shape');
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`prefill: chunk must be a positive integer, got ${chunk}`);
    this.chunk = chunk;
    const N = chunk;
    const { dim, heads: H, headDim: d, hiddenDim: hid, vocabSize: V } = s;
    const f32 = 4;
    this.buf = {
      tokens: storageBuffer(N * 4, 'prefill tokens'),
      x0: storageBuffer(N * dim * f32, 'prefill x0'),
      x1: storageBuffer(N * dim * f32, 'prefill x1'),
      xn: storageBuffer(N * dim * f32, 'prefill xn'),
      qkv: storageBuffer(N * qkvRows(s) * f32, 'prefill qkv'),
      q: storageBuffer(N * H * d * f32, 'prefill q'),
      attn: storageBuffer(N * H * d * f32, 'prefill attn'),
      act: storageBuffer(N * hid * f32, 'prefill act'),
      rope: storageBuffer(N * d * f32, 'prefill rope'),
      last: storageBuffer(dim * f32, 'prefill last row'),
      lastNorm: storageBuffer(dim * f32, 'prefill last row normed'),
      logits: storageBuffer(V * f32, 'prefill logits'),
      argmaxPartial: storageBuffer(argmaxPartialBytes(V, 1), 'prefill argmax partials'),
      token: storageBuffer(4, 'prefill token'),
      history: storageBuffer(4, 'prefill token history'),
    };
    this.u = {
      embed: new UniformBlock([V, N]),
      norm: new UniformBlock([{ f32: s.normEps }]),
      gemm: new UniformBlock([N]),
      rope: new UniformBlock([0, cache.capacity, 0, N]),
      attention: new UniformBlock([N, 0, 0, cache.capacity, { f32: 1 / Math.sqrt(d) }]),
      gemvOut: new UniformBlock([V]),
      argmax: new UniformBlock([V, 0]),
    };
    const read = halfRead();
    const b = this.buf;
    const gemm = (shape: Omit<GemmShape, 'weights' | 'halfRead'>, buffers: GPUBuffer[], label: string) =>
      bindDispatch(gemmShader({ ...shape, weights: weights.dtype, halfRead: read }), this.u.gemm, buffers, gemmWorkgroups(shape, N), 'gemm', label);
    const normCode = rmsNormShader(dim);
    const ropeCode = ropeKvAppendShader(0, H, s.kvHeads, d, cache.dtype, 'prefill');
    this.queryBlock = prefillQueryBlock(d, deviceLimits().workgroupStorage);
    const attentionCode = prefillAttentionShader({ heads: H, kvHeads: s.kvHeads, headDim: d, kv: cache.dtype, halfRead: read, queryBlock: this.queryBlock });
    this.embed = bindDispatch(embedRowsShader(dim, weights.dtype, read), this.u.embed, [b.tokens, weights.embedding, b.x0], embedRowsWorkgroups(N, dim), 'other', 'prefill embedding');
    this.layers = weights.layers.map((w, l) => ({
      norm1: bindDispatch(normCode, this.u.norm, [b.x0, w.attnNorm, b.xn], [N], 'other', `prefill l${l} rmsnorm`),
      qkv: gemm({ rows: qkvRows(s), cols: dim, epilogue: w.bqkv ? 'bias' : 'plain' }, w.bqkv ? [w.wqkv, b.xn, w.bqkv, b.qkv] : [w.wqkv, b.xn, b.qkv], `prefill l${l} gemm qkv`),
      rope: bindDispatch(ropeCode, this.u.rope, [b.qkv, b.rope, b.q, cache.keys[l], cache.values[l]], ropeKvAppendWorkgroups(N, H, s.kvHeads, d), 'other', `prefill l${l} rope+append`),
      attention: bindDispatch(attentionCode, this.u.attention, [b.q, cache.keys[l], cache.values[l], b.attn], prefillAttentionWorkgroups(N, H, this.queryBlock), 'attention', `prefill l${l} attention`),
      wo: gemm({ rows: dim, cols: H * d, epilogue: 'residual' }, [w.wo, b.attn, b.x0, b.x1], `prefill l${l} gemm o`),
      norm2: bindDispatch(normCode, this.u.norm, [b.x1, w.ffnNorm, b.xn], [N], 'other', `prefill l${l} rmsnorm`),
      w13: gemm({ rows: 2 * hid, cols: dim, epilogue: 'swiglu' }, [w.w13, b.xn, b.act], `prefill l${l} gemm gate|up`),
      w2: gemm({ rows: dim, cols: hid, epilogue: 'residual' }, [w.w2, b.act, b.x1, b.x0], `prefill l${l} gemm down`),
    }));
    const outShape = { rows: V, cols: dim, batch: 1, epilogue: 'plain' as const };
    const plan = gemvPlan(outShape, defaultGemvTuning(1), deviceLimits().workgroupStorage);
    this.head = [
      bindDispatch(normCode, this.u.norm, [b.last, weights.finalNorm, b.lastNorm], [1], 'other', 'prefill final rmsnorm'),
      bindDispatch(gemvShader({ ...outShape, weights: weights.dtype, halfRead: read }, plan), this.u.gemvOut, [weights.output, b.lastNorm, b.logits], [gemvWorkgroups(outShape, plan)], 'gemv', 'prefill output head'),
      bindDispatch(argmaxPartialShader(), this.u.argmax, [b.logits, b.argmaxPartial], argmaxPartialWorkgroups(V, 1), 'other', 'prefill argmax partials'),
      bindDispatch(argmaxMergeShader(1), this.u.argmax, [b.argmaxPartial, b.token, b.history], [1], 'other', 'prefill argmax'),
    ];
  }

  /**
   * Runs `tokens` at positions start..start+n-1 of sequence `seq` (the cache rows before `start` must hold the
   * sequence's earlier tokens) and leaves the last token's logits and greedy next token on the device
   * (readLogits, readToken). Returns once the work is queued (with hooks: done).
   */
  async run(seq: number, tokens: readonly number[], start = 0, hooks: PrefillHooks = {}): Promise<void> {
    const s = this.weights.shape;
    const n = tokens.length;
    if (n === 0) throw new ModelError('prefill needs at least one token');
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.cache.batch) throw new RangeError(`prefill: sequence ${seq} outside the cache's ${this.cache.batch}`);
    if (start + n > this.cache.capacity) throw new RangeError(`prefill: positions up to ${start + n - 1} exceed the cache capacity ${this.cache.capacity}`);
    for (const id of tokens) if (!(Number.isInteger(id) && id >= 0 && id < s.vocabSize)) throw new ModelError(`token id ${id} is outside the vocabulary (0..${s.vocabSize - 1})`);
    const d = s.headDim;
    for (let c0 = 0; c0 < n; c0 += this.chunk) {
      const m = Math.min(this.chunk, n - c0);
      const p0 = start + c0;
      writeBuffer(this.buf.tokens, Int32Array.from(tokens.slice(c0, c0 + m)));
      const rope = new Float32Array(m * d);
      for (let i = 0; i < m; i++) rope.set(ropeRow(p0 + i, d, s.ropeTheta), i * d);
      writeBuffer(this.buf.rope, rope);
      this.u.embed.write([s.vocabSize, m]);
      this.u.gemm.write([m]);
      this.u.rope.write([p0, this.cache.capacity, seq, m]);
      this.u.attention.write([m, p0, seq, this.cache.capacity, { f32: 1 / Math.sqrt(d) }]);
      this.embed.workgroups = [...embedRowsWorkgroups(m, s.dim), 1];
      const list: BoundDispatch[] = [this.embed];
      for (const [l, layer] of this.layers.entries()) {
        layer.norm1.workgroups[0] = m;
        layer.norm2.workgroups[0] = m;
        for (const g of [layer.qkv, layer.wo, layer.w13, layer.w2]) g.workgroups[1] = Math.ceil(m / 64);
        layer.rope.workgroups = [...ropeKvAppendWorkgroups(m, s.heads, s.kvHeads, d), 1];
        layer.attention.workgroups = [...prefillAttentionWorkgroups(m, s.heads, this.queryBlock), 1];
        list.push(layer.norm1, layer.qkv, layer.rope, layer.attention);
        if (hooks.onLayer) {
          recordStep(list.splice(0));
          await hooks.onLayer(l, c0, m, this.buf.q, this.buf.attn);
        }
        list.push(layer.wo, layer.norm2, layer.w13, layer.w2);
      }
      recordStep(list);
      if (hooks.progress) {
        await gpuIdle();
        hooks.progress(c0 + m, n);
      }
      if (c0 + m === n) {
        recordCopies((e) => e.copyBufferToBuffer(this.buf.x0, (m - 1) * s.dim * 4, this.buf.last, 0, s.dim * 4));
        recordStep(this.head);
      }
    }
  }

  /** The last prefilled token's logits [V] (waits for the GPU). */
  async readLogits(): Promise<Float32Array> {
    return new Float32Array(await readBuffer(this.buf.logits, this.weights.shape.vocabSize * 4));
  }

  /** The greedy next token after the last prefilled one (argmax of its logits, ties to the lowest id). */
  async readToken(): Promise<number> {
    return new Int32Array(await readBuffer(this.buf.token, 4))[0];
  }

  dispose(): void {
    for (const b of Object.values(this.buf)) b.destroy();
    for (const u of Object.values(this.u)) u.destroy();
  }
}
