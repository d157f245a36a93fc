/** Autoregressive generation from a prompt with any decode attention. */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from './errors.js';
import type { Sampler } from './sampling.js';
import type { ModelSession } from './transformer.js';

export interface GenerateOptions {
  /** new tokens to generate (at most; generation stops early at a stop id) */
  steps: number;
  sampler: Sampler;
  /** ids that end generation (not emitted) */
  stopIds?: readonly number[];
  /**
   * Called for each generated id with the logits [vocab] it was chosen from (the caller must not keep the
   * array past the call).
   */
  onToken?: (id: number, logits: Float32Array, step: number) => void;
}

export interface GenerateResult {
  /** the generated ids (without the prompt) */
  ids: number[];
  /** seconds spent in the prompt's forward pass and in the decode steps */
  prefillSeconds: number;
  decodeSeconds: number;
  stoppedBy: 'steps' | 'stop-id';
}

/** Runs the prompt through the session, then samples up to `steps` tokens. */
export function generate(session: ModelSession, prompt: readonly number[], opts: GenerateOptions): GenerateResult {
  if (prompt.length === 0) throw new ModelError('generation needs a prompt of at least one token (e.g. BOS)');
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${opts.steps}`);
  const ids: number[] = [];
  const t0 = performance.now();
  let logitsT: tf.Tensor = session.forward(prompt, true);
  let logits = logitsT.dataSync() as Float32Array;
  logitsT.dispose();
  const t1 = performance.now();
  let stoppedBy: GenerateResult['stoppedBy'] = 'steps';
  for (let s = 0; s < opts.steps; s++) {
    const id = opts.sampler.next(logits);
    if (opts.stopIds?.includes(id)) {
      stoppedBy = 'stop-id';
      break;
    }
    ids.push(id);
    opts.onToken?.(id, logits, s);
    if (s + 1 === opts.steps) break;
    logitsT = session.step(id);
    logits = logitsT.dataSync() as Float32Array;
    logitsT.dispose();
  }
  return { ids, prefillSeconds: (t1 - t0) / 1000, decodeSeconds: (performance.now() - t1) / 1000, stoppedBy };
}
