/** Reading tensors back in tests, and the float comparison the kernel tests share. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { worstRelative as parityWorstRelative } from '../../src/sim/parity.js';

/** The values of `t` (which is disposed). */
export async function values(t: tf.Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

/** The worst |got - want| / (1 + |want|), after checking the lengths agree. */
export function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  return parityWorstRelative(got, want);
}
