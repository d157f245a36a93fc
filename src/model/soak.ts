/**
 * A decode soak: a model session through a sparse attention method for many greedy steps, sampling
 * tf.memory() at every decode-window boundary. Stable means: the tensor count is the same at every boundary
 * (no tensor leaks per step or per window) and the bytes grow by the same amount every window (the KV
 * caches and the cluster index grow linearly with the context, by design; a leak shows as a drift).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Method } from '../sim/selector.js';
import { greedyId } from './generate.js';
import type { LlamaModel } from './transformer.js';

export interface SoakSample {
  step: number;
  position: number;
  numTensors: number;
  numBytes: number;
}

export interface SoakResult {
  samples: SoakSample[];
  /** distinct tensor counts over the samples (1: stable) */
  tensorCounts: number[];
  /** bytes added between consecutive samples */
  byteIncrements: number[];
  seconds: number;
}

/**
 * Prefills `prompt`, then decodes `steps` greedy tokens through `method`, sampling memory every
 * `sampleEvery` steps (use the method's decode window, so every sample sits at the same phase of it).
 */
export async function decodeSoak(model: LlamaModel, method: Method, prompt: readonly number[], steps: number, sampleEvery: number, onSample?: (s: SoakSample) => void): Promise<SoakResult> {
  const t0 = performance.now();
  const session = model.session(method);
  const samples: SoakSample[] = [];
  try {
    let logits: tf.Tensor = await session.forward(prompt, true);
    for (let s = 0; s < steps; s++) {
      logits = await session.step(await greedyId(logits));
      if ((s + 1) % sampleEvery === 0) {
        const m = tf.memory();
        const sample = { step: s + 1, position: session.position, numTensors: m.numTensors, numBytes: m.numBytes };
        samples.push(sample);
        onSample?.(sample);
      }
    }
    logits.dispose();
  } finally {
    session.dispose();
  }
  // the first window closes the open window's first buffers: judge from the second sample on
  const steady = samples.slice(1);
  return {
    samples,
    tensorCounts: [...new Set(steady.map((s) => s.numTensors))],
    byteIncrements: steady.slice(1).map((s, i) => s.numBytes - steady[i].numBytes),
    seconds: (performance.now() - t0) / 1000,
  };
}
