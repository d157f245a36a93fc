/**
 * The engine as a GPU with shader-f16 and subgroups builds it: on Dawn's null backend (which offers both but
 * runs nothing; test/helpers/null-webgpu.ts) f16 weights and KV caches are read natively (`enable f16;`) and
 * the decode attention is the subgroup kernel, text the software adapter never compiles. Every pipeline and
 * bind group of the prefill and of the decode engine (dense, and each batched method's selection) must pass
 * validation, and recording its steps must too (dense, and after the selection's prompt, sparse). ckvlab-9m-16k's attention shape (6 heads over 2 KV heads of
 * 64), two layers, a small FFN and vocabulary.
 */
import { describe, expect, it } from 'vitest';
import { halfRead } from '../../../src/gpu/wgsl/engine/storage-dtype.js';
import { webgpuBackend } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { DecodeEngine } from '../../../src/model/engine/decode-engine.js';
import { randomEngineWeights } from '../../../src/model/engine/device-weights.js';
import { engineParityMethods } from '../../../src/model/engine/engine-parity.js';
import { KvCache } from '../../../src/model/engine/kv-cache.js';
import { Prefill } from '../../../src/model/engine/prefill.js';
import type { EngineShape } from '../../../src/model/engine/shape.js';
import { nullWebgpu } from '../../helpers/null-webgpu.js';

const skip = await nullWebgpu();

const SHAPE: EngineShape = { dim: 384, hiddenDim: 512, layers: 2, heads: 6, kvHeads: 2, headDim: 64, vocabSize: 512, ropeTheta: 10000, normEps: 1e-5 };

/** Validation errors raised while `f` runs (Dawn reports them asynchronously, through the error scope). */
async function validationErrors(f: () => void | Promise<void>): Promise<string[]> {
  const { device } = webgpuBackend();
  device.pushErrorScope('validation');
  await f();
  const err = await device.popErrorScope();
  return err ? [err.message] : [];
}

describe.skipIf(!!skip)('the engine natively (Dawn null backend: shader-f16, subgroups)', () => {
  it('reads f16 natively', () => {
    expect(halfRead()).toBe('native');
  });

  it.each(['f16', 'f32'] as const)('builds the prefill and every method\'s decode engine, %s KV, and records their steps', async (kv) => {
    const weights = randomEngineWeights(SHAPE, 1, 'f16');
    const cache = new KvCache(SHAPE, 2, 256, kv);
    try {
      let prefill: Prefill | undefined;
      expect(await validationErrors(() => {
        prefill = new Prefill(weights, cache, 64);
      })).toEqual([]);
      for (const method of engineParityMethods('first')) {
        const opts = { weights, batch: 2, capacity: 256, maxSteps: 4, cache, ...(method.name === 'full' ? {} : { method }) };
        let engine: DecodeEngine | undefined;
        const errors = await validationErrors(async () => {
          engine = new DecodeEngine({ ...opts, position: 100 });
          engine.step({ tokens: [1, 2] });
          if (engine.method) {
            // a method fit on the prompt's queries (infinigen) gets seeded ones for the prompt (positions 0..100, the dense step included)
            const rows = Float32Array.from({ length: 101 * SHAPE.heads * SHAPE.headDim }, (_, i) => Math.sin(i * 0.37));
            for (const l of engine.promptQueryLayers) for (const b of [0, 1]) engine.handPromptQueries(l, b, 0, rows);
            await engine.prefillSelection();
            engine.step({ attention: 'sparse' });
          }
        });
        expect(errors, method.name).toEqual([]);
        expect(engine!.attentionKernel, method.name).toBe('wgsl-subgroup');
        engine!.dispose();
      }
      void prefill;
    } finally {
      cache.destroy();
      weights.dispose();
    }
  });
});
