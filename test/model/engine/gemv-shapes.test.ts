// The engine's GEMV products (one home for what a decode step multiplies) against the step's weight bytes
// (shape.ts): every matrix the bytes bound counts is one product, run as often as the bound counts it.
import { describe, expect, it } from 'vitest';
import { ENGINE_GEMVS, engineGemvShapes } from '../../../src/model/engine/gemv-shapes.js';
import { engineShapeOf, LLAMA3_8B_SHAPE, weightBytesPerStep } from '../../../src/model/engine/shape.js';
import { hfConfig } from '../../../src/model/hf-loader.js';
import { RANDOM_CHECKPOINT_SHAPES } from '../../../src/model/random-checkpoint.js';

const shapes = { 'llama-3-8b-e2e': LLAMA3_8B_SHAPE, ...Object.fromEntries(Object.entries(RANDOM_CHECKPOINT_SHAPES).map(([name, hf]) => [name, engineShapeOf(hfConfig({ ...hf }, name))])) };

describe('the decode step\'s GEMV products', () => {
  for (const [name, s] of Object.entries(shapes)) {
    it(`cover the weights a step reads (${name})`, () => {
      for (const batch of [1, 8]) {
        const g = engineGemvShapes(s, batch, false);
        const elements = ENGINE_GEMVS.reduce((sum, k) => sum + g[k].rows * g[k].cols * g[k].perStep, 0);
        const gains = (2 * s.layers + 1) * s.dim;
        // f16 matrices and the batch's embedding rows, f32 gains
        expect(2 * (elements + batch * s.dim) + 4 * gains).toBe(weightBytesPerStep(s, batch, 'f16'));
        // a norm prologue for each of the step's norms: 2 per layer and the final one
        expect(ENGINE_GEMVS.reduce((n, k) => n + (g[k].norm ? g[k].perStep : 0), 0)).toBe(2 * s.layers + 1);
        expect(ENGINE_GEMVS.every((k) => g[k].batch === batch)).toBe(true);
      }
      expect(engineGemvShapes(s, 1, true).qkv.epilogue).toBe('bias');
    });
  }
});
