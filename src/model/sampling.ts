/** Next-token choice from logits: greedy at temperature 0, else softmax sampling with a seeded PRNG. */

import { mulberry32 } from '../trace/random.js';

/** Index of the largest logit (the first on ties, like llama2.c). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export interface Sampler {
  readonly temperature: number;
  next(logits: Float32Array): number;
}

export function createSampler(temperature: number, seed: number): Sampler {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const random = mulberry32(seed);
  return {
    temperature,
    next(logits: Float32Array): number {
      if (temperature === 0) return argmax(logits);
      const probs = softmax(logits, temperature);
      const r = random();
      let cdf = 0;
      for (let i = 0; i < probs.length; i++) {
        cdf += probs[i];
        if (r < cdf) return i;
      }
      return probs.length - 1;
    },
  };
}

/** softmax(logits / temperature) in float64. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const out = new Float64Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp((logits[i] - max) / temperature);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}
