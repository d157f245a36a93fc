/**
 * Per query head inner products with the selectable keys [sinkEnd, openStart) of a layer's KVStore (GQA: a
 * query head reads its KV head's keys), shared by the token-level rankings (oracle, infinigen). The slice
 * [G, m, d] is kept until the selectable range moves (a decode window closes).
 */
import * as tf from '@tensorflow/tfjs-core';
import { queryGroupSize } from '../../gpu/heads.js';
import type { KVStore } from '../kv-store.js';
import type { LayerInfo } from '../selector.js';

export class SelectableKeys {
  private slice: { sinkEnd: number; openStart: number; keys: tf.Tensor3D } | null = null;
  private readonly group: number;

  constructor(
    private readonly store: KVStore,
    private readonly info: LayerInfo,
  ) {
    this.group = queryGroupSize(info.heads, info.kvHeads);
  }

  /** [H, m] q . k for every selectable key, m = openStart - sinkEnd (in position order). q: [H, d]. */
  scores(q: tf.Tensor2D, sinkEnd: number, openStart: number): tf.Tensor2D {
    const keys = this.keys(sinkEnd, openStart);
    return tf.tidy(() => {
      const qg = tf.reshape(q, [this.info.kvHeads, this.group, this.info.headDim]);
      return tf.reshape(tf.matMul(qg, keys, false, true), [this.info.heads, -1]) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.slice?.keys.dispose();
    this.slice = null;
  }

  private keys(sinkEnd: number, openStart: number): tf.Tensor3D {
    if (this.slice?.sinkEnd !== sinkEnd || this.slice.openStart !== openStart) {
      this.slice?.keys.dispose();
      this.slice = { sinkEnd, openStart, keys: tf.keep(tf.slice(this.store.keys, [0, sinkEnd, 0], [-1, openStart - sinkEnd, -1])) };
    }
    return this.slice.keys;
  }
}
