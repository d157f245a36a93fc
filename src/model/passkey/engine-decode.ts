/**
 * decode.ts on the WebGPU engine, for a batch of up to 8 documents of one length decoded together: each
 * document prefilled once into its sequence of one KV cache (dense, as ClusterKV and Quest prefill), its
 * first answer token the prefill's argmax; then per cell, one engine session over that cache (the prompt
 * rows are never written again: every cell's decode overwrites only the answer rows after them) decodes
 * every document's answer greedily in one step per token. Needle recall observes each step's every sparse
 * layer as decode.ts's observer does (the layer's queries, its token lists, dense: every position, and the
 * cached keys), the dense weights of all documents in one pass per layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Method } from '../../sim/selector.js';
import { clusterkvParams, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { gpuIdle } from '../../gpu/wgsl/runtime/runtime.js';
import type { DTypeChoice, EngineModel } from '../engine/engine-model.js';
import { EngineSession } from '../engine/engine-session.js';
import type { PrefillHooks } from '../engine/prefill.js';
import { readBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import type { KvCache } from '../engine/kv-cache.js';
import { firstSparseLayer, type AnswerDecode } from './decode.js';
import type { PasskeyDocument } from './document.js';
import { denseWeights, NeedleRecallRecorder } from './needle-recall.js';

/** The GEMV kernels' largest batch. */
export const ENGINE_BATCH = 8;

/** Documents prefilled together: one cache, one prompt length. */
export interface EngineBatch {
  docs: PasskeyDocument[];
  /** the prompt length every document has */
  length: number;
  cache: KvCache;
  /** greedy first answer token per document */
  firstTokens: number[];
  /** prefill seconds per document */
  seconds: number[];
  /** the session that prefilled (its cache is the batch's); disposed by disposeEngineBatch */
  owner: EngineSession;
  /**
   * promptQueries[l][b]: document b's prompt queries of layer l after RoPE, [P, H, d], for the layers asked
   * (methods fit on them: InfiniGen); absent for the others
   */
  promptQueries: Float32Array[][];
}

/** The layers whose prompt queries a batch keeps for these engine methods: the sparse layers of each that takes them. */
export function promptQueryLayersOf(methods: readonly Method[], layers: number): number[] {
  const from = Math.min(layers, ...methods.map((m) => (m.engine?.kind === 'batched' && m.engine.promptQueries ? m.engine.budget.denseLayers : layers)));
  return Array.from({ length: layers - from }, (_, i) => from + i);
}

/** Groups documents by prompt length into batches of at most ENGINE_BATCH, in the order given. */
export function engineBatches<T extends { tokens: readonly number[] }>(docs: readonly T[], size = ENGINE_BATCH): T[][] {
  const byLength = new Map<number, T[][]>();
  const out: T[][] = [];
  for (const d of docs) {
    const groups = byLength.get(d.tokens.length) ?? [];
    byLength.set(d.tokens.length, groups);
    let last = groups[groups.length - 1];
    if (!last || last.length === size) {
      last = [];
      groups.push(last);
      out.push(last);
    }
    last.push(d);
  }
  return out;
}

/**
 * Prefills every document of a batch (same prompt length) into its own sequence of one cache, keeping the
 * prompt queries of `keepQueries` layers (promptQueryLayersOf).
 */
export async function prefillEngineBatch(model: EngineModel, docs: PasskeyDocument[], kv: DTypeChoice, keepQueries: readonly number[] = []): Promise<EngineBatch> {
  const length = docs[0].tokens.length;
  if (docs.some((d) => d.tokens.length !== length)) throw new RangeError('engine batch: every document must have the same length');
  const answer = Math.max(...docs.map((d) => d.answer.length));
  const owner = new EngineSession(model, { attention: 'dense', batch: docs.length, capacity: length + answer, maxSteps: answer, kv });
  try {
    const firstTokens: number[] = [];
    const seconds: number[] = [];
    const row = model.shape.heads * model.shape.headDim;
    const promptQueries: Float32Array[][] = [];
    for (const l of keepQueries) promptQueries[l] = docs.map(() => new Float32Array(length * row));
    const keep = (b: number): PrefillHooks => ({
      async onLayer(l, start, n, q) {
        if (promptQueries[l]) promptQueries[l][b].set(new Float32Array(await readBuffer(q, n * row * 4)), start * row);
      },
    });
    for (const [b, doc] of docs.entries()) {
      const t0 = performance.now();
      await owner.prefill(b, doc.tokens, 0, keepQueries.length ? keep(b) : undefined);
      firstTokens.push(await owner.prefillToken());
      seconds.push((performance.now() - t0) / 1000);
    }
    owner.releasePrefill();
    return { docs, length, cache: owner.cache, firstTokens, seconds, owner, promptQueries };
  } catch (err) {
    await owner.dispose();
    throw err;
  }
}

export async function disposeEngineBatch(batch: EngineBatch): Promise<void> {
  await batch.owner.dispose();
}

/**
 * Every document's answer under `method` (full, or a method the engine runs): greedy decode from the batch's
 * prefill, needle recall recorded in the method's sparse layers. One AnswerDecode per document; its seconds
 * are the batch's decode time shared equally.
 */
export async function decodeAnswersOnEngine(model: EngineModel, batch: EngineBatch, method: Method): Promise<AnswerDecode[]> {
  const t0 = performance.now();
  const { docs, length: P, cache } = batch;
  const B = docs.length;
  const steps = Math.max(...docs.map((d) => d.answer.length));
  const session = new EngineSession(model, { attention: method, batch: B, capacity: cache.capacity, maxSteps: Math.max(1, steps), cache, observe: true });
  const { layers: L, heads: H, headDim: d } = model.shape;
  const sparseFrom = firstSparseLayer(method);
  const recorders = docs.map((doc) => new NeedleRecallRecorder({ needle: doc.needlePositions, key: doc.keyPositions, promptLength: P, layers: (l) => l >= sparseFrom }));
  const ids = batch.firstTokens.map((t) => [t]);
  try {
    // a method fit on the prompt's queries (InfiniGen) gets the ones the batch's prefill kept
    for (const l of session.engine.promptQueryLayers) {
      const kept = batch.promptQueries[l];
      if (!kept) throw new Error(`passkey engine: ${method.name} fits on layer ${l}'s prompt queries, which the batch's prefill did not keep (prefillEngineBatch's keepQueries)`);
      kept.forEach((rows, b) => session.engine.handPromptQueries(l, b, 0, rows));
    }
    await session.start(P);
    for (let k = 1; k < steps; k++) {
      const info = session.step(k === 1 ? { tokens: batch.firstTokens } : {});
      const [next] = await session.engine.readHistory(1);
      docs.forEach((_, b) => ids[b].push(next[b]));
      const position = info.position;
      const dense = info.attention === 'dense';
      const n = dense ? 0 : info.sparseList;
      const live = docs.map((_, b) => b).filter((b) => k < docs[b].answer.length);
      for (let l = sparseFrom; l < L && live.length > 0; l++) {
        // every document's dense weights of this layer in one pass ([B H, T]: sequence-major, as the cache)
        const q = tf.tensor2d(await session.engine.readQueries(l), [B * H, d]);
        const keys = cache.rows(l, 0, position + 1);
        const weightsT = denseWeights(q, keys);
        tf.dispose([q, keys]);
        const weights = (await weightsT.data()) as Float32Array;
        weightsT.dispose();
        // the sparse layers attend their token lists (l >= sparseFrom is the method's denseLayers); dense: every position
        const lists = dense ? null : await session.engine.readLayerTokenLists(l, n);
        const T = position + 1;
        for (const b of live) recorders[b].record(l, position, weights.subarray(b * H * T, (b + 1) * H * T), lists ? lists.subarray(b * H * n, (b + 1) * H * n) : null, H, T);
      }
    }
    await gpuIdle();
  } finally {
    await session.dispose();
  }
  const seconds = (performance.now() - t0) / 1000 / B;
  const stats = method.name === 'clusterkv' ? { promptClusters: promptClustering(clusterkvParams(method), P).clusters } : undefined;
  return docs.map((doc, b) => ({ ids: ids[b].slice(0, doc.answer.length), records: recorders[b].records, stats, seconds }));
}
