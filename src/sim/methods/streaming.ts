/**
 * streaming: StreamingLLM (Xiao et al., 2023): attention sinks plus the most recent tokens. Under the
 * shared accounting the sinks, open decode window and current token are forced, and the method chooses the
 * most recent `budget` tokens of the selectable range, so the whole set is sinks + one recent window.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, LayerSelector, Selection } from '../selector.js';
import { planStep, withForced } from './baseline.js';
import { BUDGET_PARAMS, validateBudgetParams } from './budget-params.js';
import { defineMethod, type ParamsOf } from './define.js';
import { BatchedStreaming } from './streaming-batched.js';
import { NO_SELECTION_BYTES } from '../batched-selector.js';

const PARAMS = { ...BUDGET_PARAMS };
export type StreamingParams = ParamsOf<typeof PARAMS>;

export const streaming = defineMethod({
  name: 'streaming',
  summary: 'StreamingLLM (Xiao et al., 2023): the sinks plus the most recent tokens',
  budgeted: true,
  params: PARAMS,
  validate: (p) => validateBudgetParams('streaming', p),
  selector: (info, p) => streamingSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedStreaming(layer, p), bytes: () => NO_SELECTION_BYTES },
});

function streamingSelector(info: LayerInfo, params: StreamingParams): LayerSelector {
  let prefillLength = 0;
  let length = 0;
  return {
    prefill(keys) {
      prefillLength = length = keys.shape[1];
    },
    async step(_q, kNew): Promise<Selection> {
      length += kNew.shape[1];
      const { layout, forced, chosen } = planStep(length - 1, prefillLength, params);
      const tokens = tf.tidy(() => {
        const recent = tf.range(layout.openStart - chosen, layout.openStart, 1, 'int32');
        return withForced(forced, tf.tile(tf.expandDims(recent, 0), [info.heads, 1]) as tf.Tensor2D, info.heads);
      });
      return { tokens, selectedCount: chosen };
    },
    dispose() {},
  };
}
