/**
 * A method of one's own, declared the way the registered ones are (docs/DESIGN.md#what-adding-a-method-takes): defineMethod with the shared budget parameters and one of its own, then replayed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../src/gpu/backend.js';
import { BUDGET_PARAMS, defineMethod, intParam, methodFromDefinition, planStep, withForced } from '../../../src/sim/methods/index.js';
import { validateBudgetParams } from '../../../src/sim/methods/budget-params.js';
import { replayTrace } from '../../../src/sim/replay.js';
import { TraceReader } from '../../../src/trace/index.js';
import { smallTrace } from '../../helpers/traces.js';

/** Every `stride`-th selectable token from the oldest, up to the budget. */
const strided = defineMethod({
  name: 'strided',
  summary: 'every stride-th selectable token',
  budgeted: true,
  params: { ...BUDGET_PARAMS, stride: intParam(2, 1, 'take every stride-th token') },
  validate: (p) => validateBudgetParams('strided', p),
  selector: (info, p) => {
    let prefill = 0;
    let length = 0;
    return {
      prefill(keys) {
        prefill = length = keys.shape[1];
      },
      async step(_q, kNew) {
        length += kNew.shape[1];
        const { layout, forced, chosen } = planStep(length - 1, prefill, p);
        const picks: number[] = [];
        for (let t = layout.sinkEnd; t < layout.openStart && picks.length < chosen; t += p.stride) picks.push(t);
        const tokens = tf.tidy(() => withForced(forced, tf.tile(tf.tensor2d(picks, [1, picks.length], 'int32'), [info.heads, 1]) as tf.Tensor2D, info.heads));
        return { tokens, selectedCount: picks.length };
      },
      dispose() {},
    };
  },
});

describe('a method defined outside the registry', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('takes the shared parameters with their defaults, checks its own, and replays like any method', async () => {
    const m = methodFromDefinition(strided, { budget: 32, stride: 3, denseLayers: 1 });
    expect(m.params).toMatchObject({ budget: 32, stride: 3, sinks: 16, window: 320, denseLayers: 1, budgetMode: 'selected' });
    expect(() => methodFromDefinition(strided, { budget: 32, stride: 0 })).toThrow(/strided: parameter 'stride' must be an integer >= 1, got 0/);
    expect(() => methodFromDefinition(strided, { budget: 32, colour: 1 })).toThrow(/method 'strided' has no parameter 'colour'/);
    const reader = await TraceReader.open(await smallTrace());
    try {
      const rows = await replayTrace(reader, [m]);
      const dense = rows.filter((r) => r.layer === 0);
      const sparse = rows.filter((r) => r.layer === 1);
      expect(dense.every((r) => r.massRecall > 0.999999)).toBe(true); // layer 0 < denseLayers
      // sinks + budget + the open decode window (the generated tokens so far) and the current token
      expect(sparse.every((r) => r.tokensAttended === 16 + 32 + (r.position - reader.manifest.prefillLength + 1))).toBe(true);
      expect(sparse.reduce((a, r) => a + r.massRecall, 0) / sparse.length).toBeLessThan(0.99);
    } finally {
      await reader.close();
    }
  });
});
