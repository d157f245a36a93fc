/**
 * The matrix-vector products of one decode step of the engine, declared once: the engine binds them
 * (decode-engine.ts) and the GEMV tune times them (bench/suites/tune-gemv.ts), so a split tuned on these
 * shapes is tuned on what the engine runs, norm prologues and epilogues included.
 *
 *   qkv      rows (H + 2G) d, cols dim            RMSNorm prologue (attention norm), plain or bias (Qwen2)
 *   o        rows dim, cols H d                   residual
 *   gate-up  rows 2 hidden (interleaved), cols dim RMSNorm prologue (FFN norm), swiglu
 *   down     rows dim, cols hidden                residual
 *   output   rows vocab, cols dim                 RMSNorm prologue (final norm), plain; once per step
 */
import type { GemvShape } from '../../gpu/wgsl/engine/gemv.js';
import { qkvRows, type EngineShape } from './shape.js';

export const ENGINE_GEMVS = ['qkv', 'o', 'gate-up', 'down', 'output'] as const;
export type EngineGemv = (typeof ENGINE_GEMVS)[number];

export interface EngineGemvShape extends GemvShape {
  /** how many times a decode step runs it (layers, or 1 for the output head) */
  perStep: number;
}

/** The step's products for `batch` sequences; `qkvBias`: the q/k/v projections add a bias (Qwen2). */
export function engineGemvShapes(s: EngineShape, batch: number, qkvBias: boolean): Record<EngineGemv, EngineGemvShape> {
  const layer = { batch, perStep: s.layers };
  return {
    qkv: { ...layer, rows: qkvRows(s), cols: s.dim, epilogue: qkvBias ? 'bias' : 'plain', norm: true },
    o: { ...layer, rows: s.dim, cols: s.heads * s.headDim, epilogue: 'residual' },
    'gate-up': { ...layer, rows: 2 * s.hiddenDim, cols: s.dim, epilogue: 'swiglu', norm: true },
    down: { ...layer, rows: s.dim, cols: s.hiddenDim, epilogue: 'residual' },
    output: { batch, perStep: 1, rows: s.vocabSize, cols: s.dim, epilogue: 'plain', norm: true },
  };
}
