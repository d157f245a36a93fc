/** full: dense attention over every position, the reference every metric compares with. */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { defineMethod } from './define.js';

/** A selector that attends all positions 0..position for every query head. */
export function fullSelector(info: LayerInfo): LayerSelector {
  let length = 0;
  return {
    prefill(keys) {
      length = keys.shape[1];
    },
    async step(_q, kNew): Promise<Selection> {
      length += kNew.shape[1];
      const n = length;
      const tokens = tf.tidy(() => tf.tile(tf.expandDims(tf.range(0, n, 1, 'int32'), 0), [info.heads, 1]) as tf.Tensor2D);
      return { tokens, selectedCount: 0, dense: true };
    },
    dispose() {},
  };
}

export const full = defineMethod({
  name: 'full',
  summary: 'dense attention over every position: the reference every metric compares with',
  budgeted: false,
  params: {},
  selector: (info) => fullSelector(info),
  engine: { kind: 'dense' },
});
