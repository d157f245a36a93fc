/**
 * A memo shared by the selectors of one layer during one replay, so that work that depends only on the
 * layer's keys (ClusterKV's K-means of the prompt and of each decode window) is done once, not once per
 * budget: in a sweep, cells that differ only in budget feed identical keys. Values are lists of tensors,
 * kept until the replay disposes the memo when the layer is done.
 */
import * as tf from '@tensorflow/tfjs-core';

export class LayerMemo {
  private readonly entries = new Map<string, tf.Tensor[]>();

  /** The value stored under `key`, computing and keeping it on first use. Callers must not dispose it. */
  getOrCompute<T extends tf.Tensor[]>(key: string, compute: () => T): T {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit as T;
    const value = compute();
    for (const t of value) tf.keep(t);
    this.entries.set(key, value);
    return value;
  }

  /** Whether `key` holds a value (for work computed asynchronously, then stored with getOrCompute). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  get size(): number {
    return this.entries.size;
  }

  dispose(): void {
    for (const value of this.entries.values()) tf.dispose(value);
    this.entries.clear();
  }
}
