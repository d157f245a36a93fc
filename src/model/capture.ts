/**
 * Trace capture from a real model (trace format v1): prefill N tokens of a text, then S decode steps
 * teacher-forced from the same text, recording per layer the post-RoPE keys and values of all N+S positions
 * and the queries and dense attention outputs of the S decode steps.
 *
 * The file is written layer by layer, so the capture runs layer-major: the whole sequence goes through
 * layer 0 (causal attention, chunked over rows and queries so memory stays bounded at 16K+ contexts),
 * layer 0's tensors are written, only the hidden states [T, dim] are kept, then layer 1, and so on.
 * A decode step's query at position p attends keys 0..p, which is exactly causal attention at row p.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import type { TraceDType, TraceManifest } from '../trace/manifest.js';
import { TRACE_FORMAT, TRACE_VERSION, layerTensorNames } from '../trace/manifest.js';
import { TraceWriter, traceTensorSpecs } from '../trace/writer.js';
import { CREATED_BY } from '../version.js';
import { ModelError } from './errors.js';
import { DenseLayerAttention } from './layer-attention.js';
import type { LlamaModel } from './transformer.js';

export interface CaptureOptions {
  /** N: prompt positions (prefill) */
  prefillLength: number;
  /** S: decode steps recorded after the prompt */
  steps: number;
  dtype: TraceDType;
  /** the text the tokens came from (its first 200 characters go into the manifest) */
  prompt: string;
  /** SHA-256 of the checkpoint (computed from the model's file when absent) */
  checkpointSha256?: string;
  /** rows pushed through a layer at once (bounds activation memory) */
  rowChunk?: number;
  /** called after each layer is written */
  onLayer?: (layer: number, layers: number) => void;
  /**
   * row chunks of all layers done and in all: at the start and after each chunk (a long layer shows progress;
   * the engine's prefill, engine-capture.ts, runs chunk by chunk through every layer: as many layer chunks)
   */
  onProgress?: (done: number, total: number) => void;
  /** aborting stops before the next row chunk: the partial file is removed, CaptureInterrupted thrown */
  signal?: AbortSignal;
}

/** A capture stopped on request: nothing was written (the partial file is gone). */
export class CaptureInterrupted extends Error {
  constructor(path: string, layer: number, layers: number) {
    super(`capture interrupted in layer ${layer} of ${layers}: nothing written to ${path} (its partial file removed)`);
    this.name = 'CaptureInterrupted';
  }
}

export interface CaptureResult {
  manifest: TraceManifest;
  path: string;
  bytes: number;
}

/** SHA-256 (hex) of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * SHA-256 (hex) of a checkpoint: its file (llama2.c), or for a Hugging Face folder its config.json and every
 * .safetensors file (and the shard index), in name order, as one stream.
 */
export async function checkpointSha256(path: string): Promise<string> {
  if (!statSync(path).isDirectory()) return fileSha256(path);
  const files = readdirSync(path).filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f === 'model.safetensors.index.json').sort();
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    for await (const chunk of createReadStream(join(path, f))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The v1 manifest of a capture of `tokens` (N + S ids). */
export function captureManifest(model: Pick<LlamaModel, 'config' | 'source'>, tokens: readonly number[], opts: CaptureOptions, sha256: string): TraceManifest {
  const { layers, heads, kvHeads, headDim, ropeTheta } = model.config;
  const T = tokens.length;
  const N = opts.prefillLength;
  return {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    source: { kind: 'model', name: model.source.name, sha256, prompt: opts.prompt.slice(0, 200) },
    model: { layers, heads, kvHeads, headDim, ropeTheta },
    keys: 'post-rope',
    contextLength: T,
    prefillLength: N,
    stepPositions: Array.from({ length: T - N }, (_, i) => N + i),
    dtype: opts.dtype,
    createdBy: CREATED_BY,
  };
}

/** Checks a capture's lengths: N >= 1, S >= 1, N + S tokens. Returns T = N + S. */
export function checkCaptureLengths(tokens: readonly number[], opts: Pick<CaptureOptions, 'prefillLength' | 'steps'>): number {
  const N = opts.prefillLength;
  const S = opts.steps;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`context (prefill length) must be a positive integer, got ${N}`);
  if (!Number.isInteger(S) || S < 1) throw new RangeError(`steps must be a positive integer, got ${S}`);
  if (tokens.length !== N + S) throw new ModelError(`capture needs ${N + S} tokens (context ${N} + steps ${S}), got ${tokens.length}`);
  return N + S;
}

/** Captures tokens (length N + S) through `model` into a trace at `path`. */
export async function captureTrace(model: LlamaModel, tokens: readonly number[], path: string, opts: CaptureOptions): Promise<CaptureResult> {
  const N = opts.prefillLength;
  const S = opts.steps;
  const T = checkCaptureLengths(tokens, opts);
  const rowChunk = opts.rowChunk ?? 1024;
  const { layers: L, heads: H, kvHeads: G, headDim: d } = model.config;
  const sha256 = opts.checkpointSha256 ?? (await checkpointSha256(model.source.path));
  const manifest = captureManifest(model, tokens, opts, sha256);
  const writer = await TraceWriter.create(path, manifest, traceTensorSpecs(manifest, { withOut: true, withTokens: true }));
  const chunks = Math.ceil(T / rowChunk);
  opts.onProgress?.(0, L * chunks);
  try {
    let x = model.embed(tokens);
    for (let l = 0; l < L; l++) {
      const keys = new Float32Array(G * T * d);
      const values = new Float32Array(G * T * d);
      const queries = new Float32Array(S * H * d);
      const outs = new Float32Array(S * H * d);
      const attention = new DenseLayerAttention();
      const nextRows: tf.Tensor2D[] = [];
      for (let r0 = 0; r0 < T; r0 += rowChunk) {
        if (opts.signal?.aborted) {
          tf.dispose([...nextRows, x]);
          attention.dispose();
          throw new CaptureInterrupted(path, l, L);
        }
        const rows = Math.min(rowChunk, T - r0);
        const xc = tf.slice(x, [r0, 0], [rows, x.shape[1]]);
        const { q, k, v } = model.projectQkv(l, xc, r0);
        const out = await attention.attend(q, k, v);
        await copyRowsToHeadMajor(k, keys, r0, T);
        await copyRowsToHeadMajor(v, values, r0, T);
        // decode steps are the rows at positions N..T-1
        const first = Math.max(r0, N);
        if (first < r0 + rows) {
          const [qd, od] = (await Promise.all([q.data(), out.data()])) as Float32Array[];
          const from = (first - r0) * H * d;
          const to = rows * H * d;
          queries.set(qd.subarray(from, to), (first - N) * H * d);
          outs.set(od.subarray(from, to), (first - N) * H * d);
        }
        nextRows.push(model.finishLayer(l, xc, out));
        tf.dispose([xc, q, k, v, out]);
        opts.onProgress?.(l * chunks + r0 / rowChunk + 1, L * chunks);
      }
      attention.dispose();
      x.dispose();
      x = nextRows.length === 1 ? nextRows[0] : (tf.concat(nextRows, 0) as tf.Tensor2D);
      if (nextRows.length > 1) tf.dispose(nextRows);
      const names = layerTensorNames(l);
      await writer.write(names.k, keys);
      await writer.write(names.v, values);
      await writer.write(names.q, queries);
      await writer.write(names.out, outs);
      opts.onLayer?.(l, L);
    }
    x.dispose();
    await writer.write('tokens', Int32Array.from(tokens));
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return { manifest, path, bytes: (await stat(path)).size };
}

/** Copies rows [n, G, d] (positions r0..r0+n-1) into a head-major [G, T, d] buffer. */
async function copyRowsToHeadMajor(rows: tf.Tensor3D, dest: Float32Array, r0: number, T: number): Promise<void> {
  const [n, G, d] = rows.shape;
  const src = (await rows.data()) as Float32Array;
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < G; g++) {
      dest.set(src.subarray((i * G + g) * d, (i * G + g + 1) * d), (g * T + r0 + i) * d);
    }
  }
}
