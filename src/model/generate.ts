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
  /** called for each generated id */
  onToken?: (id: number, step: number) => void;
  /**
   * Called with the logits [vocab] each id was chosen from (the caller must not keep the array past the
   * call). Asking for logits reads them back every step; without it a greedy sampler reads back the chosen
   * id only (an argmax on the device).
   */
  onLogits?: (logits: Float32Array, step: number) => void;
}

export interface GenerateResult {
  /** the generated ids (without the prompt) */
  ids: number[];
  /** seconds spent in the prompt's forward pass (its first token chosen) and in the decode steps */
  prefillSeconds: number;
  decodeSeconds: number;
  /** 'stop-id': the model ended the text (a stop id) before `steps` tokens */
  stoppedBy: 'steps' | 'stop-id';
}

/** The greedy id of logits [1, vocab] or [vocab] (disposed), chosen on the device (argmax: first on ties): only the id is read back. */
export async function greedyId(logits: tf.Tensor): Promise<number> {
  const idT = tf.tidy(() => tf.argMax(tf.reshape(logits, [-1])));
  logits.dispose();
  try {
    return (await idT.data())[0];
  } finally {
    idT.dispose();
  }
}

/** The next id from logits [1, vocab] or [vocab] (disposed): on the device for greedy sampling, else on the host. */
async function chooseNext(logitsT: tf.Tensor, sampler: Sampler, step: number, onLogits?: GenerateOptions['onLogits']): Promise<number> {
  if (sampler.temperature === 0 && !onLogits) return greedyId(logitsT);
  try {
    const logits = (await logitsT.data()) as Float32Array;
    onLogits?.(logits, step);
    return sampler.next(logits);
  } finally {
    logitsT.dispose();
  }
}

/** Runs the prompt through the session, then samples up to `steps` tokens. */
export async function generate(session: ModelSession, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  if (prompt.length === 0) throw new ModelError('generation needs a prompt of at least one token (e.g. BOS)');
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${opts.steps}`);
  const ids: number[] = [];
  const t0 = performance.now();
  let stoppedBy: GenerateResult['stoppedBy'] = 'steps';
  if (opts.steps === 0) {
    (await session.forward(prompt, true)).dispose();
    return { ids, prefillSeconds: (performance.now() - t0) / 1000, decodeSeconds: 0, stoppedBy };
  }
  let id = await chooseNext(await session.forward(prompt, true), opts.sampler, 0, opts.onLogits);
  const t1 = performance.now();
  for (let s = 0; s < opts.steps; s++) {
    if (opts.stopIds?.includes(id)) {
      stoppedBy = 'stop-id';
      break;
    }
    ids.push(id);
    opts.onToken?.(id, s);
    if (s + 1 === opts.steps) break;
    id = await chooseNext(await session.step(id), opts.sampler, s + 1, opts.onLogits);
  }
  return { ids, prefillSeconds: (t1 - t0) / 1000, decodeSeconds: (performance.now() - t1) / 1000, stoppedBy };
}
