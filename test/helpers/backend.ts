/** Backends every test can run here; tests that compare backends loop over these. */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../../src/gpu/backend.js';

export const LOCAL_BACKENDS = ['cpu', 'wasm'] as const;

export async function withBackend<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  await useBackend(name);
  return fn();
}

export function numTensors(): number {
  return tf.memory().numTensors;
}
