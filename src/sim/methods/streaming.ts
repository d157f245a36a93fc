/**
 * streaming: StreamingLLM (Xiao et al., 2023): attention sinks plus the most recent tokens. Under the
 * shared accounting the sinks, open decode window and current token are forced, and the method chooses the
 * most recent `budget` tokens of the selectable range, so the whole set is sinks + one recent window.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, LayerSelector, Method, Selection } from '../selector.js';
import { BASELINE_DEFAULTS, planStep, resolveBaseline, withForced, type BaselineParams } from './baseline.js';

export type StreamingParams = BaselineParams;

export const STREAMING_DEFAULTS: Omit<StreamingParams, 'budget'> = { ...BASELINE_DEFAULTS };

export function streamingMethod(options: Partial<StreamingParams> & { budget: number }): Method {
  const params = resolveBaseline<StreamingParams>('streaming', STREAMING_DEFAULTS, options);
  return {
    name: 'streaming',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer: (info) => streamingSelector(info, params),
  };
}

function streamingSelector(info: LayerInfo, params: StreamingParams): LayerSelector {
  let prefillLength = 0;
  let length = 0;
  return {
    prefill(keys) {
      prefillLength = length = keys.shape[1];
    },
    step(_q, kNew): Selection {
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
