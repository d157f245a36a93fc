/**
 * Trace capture (capture.ts's format and manifest) on the engine: the N + S tokens are one prefill on the
 * GPU (a decode step at position p attends keys 0..p, which is causal attention at row p, so the teacher-
 * forced decode steps are the prefill's last S rows). Every layer's post-RoPE queries and attention outputs
 * of rows N..N+S-1 are copied out as the prefill goes; the keys and values of all N + S positions are the
 * KV cache's (kept f32 for the trace), read layer by layer at the end, and written in the trace's order.
 * Progress counts layer chunks as the op path does (each prefill chunk through each layer); an abort stops
 * at the next one, before anything is written.
 */
import { stat } from 'node:fs/promises';
import { layerTensorNames } from '../../trace/manifest.js';
import { TraceWriter, traceTensorSpecs } from '../../trace/writer.js';
import { readBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import { CaptureInterrupted, captureManifest, checkCaptureLengths, checkpointSha256, type CaptureOptions, type CaptureResult } from '../capture.js';
import type { EngineModel } from './engine-model.js';
import { EngineSession } from './engine-session.js';
import { prefillChunkFor } from './prefill.js';

export interface EngineCaptureOptions extends CaptureOptions {
  prefillChunk?: number;
}

export async function captureTraceOnEngine(model: EngineModel, tokens: readonly number[], path: string, opts: EngineCaptureOptions): Promise<CaptureResult> {
  const N = opts.prefillLength;
  const S = opts.steps;
  const T = checkCaptureLengths(tokens, opts);
  const { layers: L, heads: H, kvHeads: G, headDim: d } = model.config;
  const sha256 = opts.checkpointSha256 ?? (await checkpointSha256(model.source.path));
  const manifest = captureManifest(model, tokens, opts, sha256);
  const session = new EngineSession(model, { attention: 'dense', capacity: T, maxSteps: 1, kv: 'f32', prefillChunk: opts.prefillChunk });
  const row = H * d;
  const queries = Array.from({ length: L }, () => new Float32Array(S * row));
  const outs = Array.from({ length: L }, () => new Float32Array(S * row));
  const total = L * Math.ceil(T / prefillChunkFor(T, opts.prefillChunk));
  let done = 0;
  opts.onProgress?.(0, total);
  try {
    await session.prefill(0, tokens, 0, {
      async onLayer(l, start, n, q, attn) {
        if (opts.signal?.aborted) throw new CaptureInterrupted(path, l, L);
        opts.onProgress?.(++done, total);
        // decode steps are the rows at positions N..T-1
        const first = Math.max(start, N);
        if (first >= start + n) return;
        const [from, bytes] = [(first - start) * row * 4, (start + n - first) * row * 4];
        queries[l].set(new Float32Array(await readBuffer(q, bytes, from)), (first - N) * row);
        outs[l].set(new Float32Array(await readBuffer(attn, bytes, from)), (first - N) * row);
      },
    });
    session.releasePrefill();
    const writer = await TraceWriter.create(path, manifest, traceTensorSpecs(manifest, { withOut: true, withTokens: true }));
    try {
      for (let l = 0; l < L; l++) {
        const names = layerTensorNames(l);
        for (const kind of ['keys', 'values'] as const) {
          const t = session.cache.rows(l, 0, T, kind);
          const data = (await t.data()) as Float32Array;
          t.dispose();
          await writer.write(kind === 'keys' ? names.k : names.v, data.length === G * T * d ? data : data.slice(0, G * T * d));
        }
        await writer.write(names.q, queries[l]);
        await writer.write(names.out, outs[l]);
        opts.onLayer?.(l, L);
      }
      await writer.write('tokens', Int32Array.from(tokens));
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    await session.dispose();
  }
  return { manifest, path, bytes: (await stat(path)).size };
}
