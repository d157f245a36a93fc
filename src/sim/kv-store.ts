/**
 * A layer's growing key/value cache on the current tfjs backend: [G, n, d] tensors that methods append to.
 * Appends concatenate (O(n) each): fine for replay, where steps are few and prompts arrive in one piece.
 */
import * as tf from '@tensorflow/tfjs-core';

export class KVStore {
  private k: tf.Tensor3D | null = null;
  private v: tf.Tensor3D | null = null;

  /** keys, values: [G, n, d]; borrowed (copied in). */
  append(keys: tf.Tensor3D, values: tf.Tensor3D): void {
    if (keys.shape[1] === 0) return;
    const k = this.k ? tf.concat([this.k, keys], 1) : keys.clone();
    const v = this.v ? tf.concat([this.v, values], 1) : values.clone();
    this.k?.dispose();
    this.v?.dispose();
    this.k = tf.keep(k);
    this.v = tf.keep(v);
  }

  /** number of positions held (0..length-1) */
  get length(): number {
    return this.k ? this.k.shape[1] : 0;
  }

  /** [G, length, d], owned by the store */
  get keys(): tf.Tensor3D {
    if (!this.k) throw new Error('KVStore is empty');
    return this.k;
  }

  /** [G, length, d], owned by the store */
  get values(): tf.Tensor3D {
    if (!this.v) throw new Error('KVStore is empty');
    return this.v;
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}
