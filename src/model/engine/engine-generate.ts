/**
 * Generation on the engine, with generate.ts's options and result (same stop rule, same callbacks): the
 * prompt prefilled on the GPU, then one decode step per token. Greedy decoding without logits callbacks
 * chains on the device (the argmax writes the next input token) and reads the chosen ids back a block at a
 * time, so a token costs no host round trip; sampling, or asking for logits, reads each step's logits.
 */
import { gpuIdle } from '../../gpu/wgsl/runtime/runtime.js';
import { ModelError } from '../errors.js';
import type { GenerateOptions, GenerateResult } from '../generate.js';
import type { Method } from '../../sim/selector.js';
import type { DTypeChoice, EngineModel } from './engine-model.js';
import { EngineSession } from './engine-session.js';
import type { PrefillHooks } from './prefill.js';

export interface EngineGenerateOptions extends GenerateOptions {
  /** 'dense' (default) or a method the engine runs (engine-session.ts) */
  attention?: 'dense' | Method;
  kv?: DTypeChoice;
  prefillChunk?: number;
  /** prompt tokens prefilled so far, of all */
  onPrefill?: PrefillHooks['progress'];
}

/** What the engine did, for summaries: the runtime, dtypes and rates. */
export interface EngineRunSummary {
  runtime: 'webgpu-engine';
  weights: string;
  kv: string;
  attention: string;
  /** the WGSL decode attention the steps ran ('wgsl-subgroup' where the device has subgroups, else 'wgsl') */
  attentionKernel: string;
  promptTokens: number;
  /** prompt rows per prefill chunk the session ran */
  prefillChunk: number;
  /** prompt tokens per second of the prefill and (ClusterKV) the prompt's clustering together */
  prefillTokensPerSecond: number;
  /** seconds of ClusterKV's prompt clustering (0 for dense) */
  clusterSeconds: number;
  /** decode steps timed (tokens after the first, which comes from the prefill) */
  decodeSteps: number;
  decodeTokensPerSecond: number | null;
  msPerToken: number | null;
}

/** Steps chained on the device between reads of the chosen ids (greedy). */
const BLOCK = 16;

export async function generateOnEngine(model: EngineModel, prompt: readonly number[], opts: EngineGenerateOptions): Promise<GenerateResult & { engine: EngineRunSummary }> {
  if (prompt.length === 0) throw new ModelError('generation needs a prompt of at least one token (e.g. BOS)');
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${opts.steps}`);
  const P = prompt.length;
  const steps = opts.steps;
  const session = new EngineSession(model, { attention: opts.attention ?? 'dense', capacity: P + Math.max(1, steps), maxSteps: Math.max(1, steps), kv: opts.kv, prefillChunk: opts.prefillChunk });
  const ids: number[] = [];
  let stoppedBy: GenerateResult['stoppedBy'] = 'steps';
  try {
    const t0 = performance.now();
    await session.prefill(0, prompt, 0, opts.onPrefill ? { progress: opts.onPrefill } : undefined);
    const sampled = opts.sampler.temperature !== 0 || !!opts.onLogits;
    const choose = async (logits: Float32Array, step: number) => {
      opts.onLogits?.(logits, step);
      return opts.sampler.next(logits);
    };
    let id = steps === 0 ? -1 : sampled ? await choose(await session.prefillLogits(), 0) : await session.prefillToken();
    if (steps === 0) await session.prefillToken();
    const tPrefill = performance.now();
    session.releasePrefill();
    // ClusterKV clusters the prompt here: part of taking the prompt in, counted with the prefill (and apart)
    await session.start(P);
    await gpuIdle();
    const t1 = performance.now();
    /** records id as generated step s; false when generation ends here */
    const emit = (s: number): boolean => {
      if (opts.stopIds?.includes(id)) {
        stoppedBy = 'stop-id';
        return false;
      }
      ids.push(id);
      opts.onToken?.(id, s);
      return s + 1 < steps;
    };
    let s = 0;
    let decodeSteps = 0;
    if (steps > 0 && emit(s++)) {
      if (sampled) {
        do {
          session.step({ tokens: [id] });
          decodeSteps++;
          id = await choose((await session.engine.readLogits()).subarray(0, model.shape.vocabSize), s);
        } while (emit(s++));
      } else {
        let first = true;
        outer: for (;;) {
          const n = Math.min(BLOCK, steps - s);
          for (let i = 0; i < n; i++) {
            session.step(first ? { tokens: [id] } : {});
            first = false;
          }
          decodeSteps += n;
          for (const row of await session.engine.readHistory(n)) {
            id = row[0];
            if (!emit(s++)) break outer;
          }
        }
      }
    }
    const t2 = performance.now();
    const w = model.weights;
    const decodeSeconds = (t2 - t1) / 1000;
    return {
      ids,
      prefillSeconds: (t1 - t0) / 1000,
      decodeSeconds,
      stoppedBy,
      engine: {
        runtime: 'webgpu-engine',
        weights: w.dtype,
        kv: session.kv,
        attention: session.method ? `${session.method.name} ${JSON.stringify(session.method.params)}` : 'dense',
        attentionKernel: session.engine.attentionKernel,
        promptTokens: P,
        prefillChunk: session.prefillChunk,
        prefillTokensPerSecond: P / ((t1 - t0) / 1000),
        clusterSeconds: (t1 - tPrefill) / 1000,
        decodeSteps,
        decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / decodeSeconds : null,
        msPerToken: decodeSteps > 0 ? (1000 * decodeSeconds) / decodeSteps : null,
      },
    };
  } finally {
    await session.dispose();
  }
}
