/**
 * The dimensions the decode engine runs, and what they weigh: a Llama-family decoder without biases, with
 * an untied output head (the engine streams the head as its own matrix, as Llama 3 does).
 */
import { STORAGE_BYTES, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import type { ModelConfig } from '../config.js';

/** The dimensions the engine reads from a model's configuration. */
export type EngineShape = Pick<ModelConfig, 'dim' | 'hiddenDim' | 'layers' | 'heads' | 'kvHeads' | 'headDim' | 'vocabSize' | 'ropeTheta' | 'normEps'>;

/**
 * Llama-3-8B's shape with a 32000-token vocabulary (Llama 2's): the 128K vocabulary would make the output
 * head 2.1 GB, past WebGPU's 2 GB binding limit; every other dimension is Llama 3 8B's.
 */
export const LLAMA3_8B_SHAPE: EngineShape = { dim: 4096, hiddenDim: 14336, layers: 32, heads: 32, kvHeads: 8, headDim: 128, vocabSize: 32000, ropeTheta: 500000, normEps: 1e-5 };

export function engineShapeOf(c: ModelConfig): EngineShape {
  return { dim: c.dim, hiddenDim: c.hiddenDim, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, vocabSize: c.vocabSize, ropeTheta: c.ropeTheta, normEps: c.normEps };
}

/** Why the engine cannot run a shape (its kernels' requirements), or undefined. */
export function engineShapeProblem(s: EngineShape): string | undefined {
  for (const key of ['dim', 'hiddenDim', 'layers', 'heads', 'kvHeads', 'headDim', 'vocabSize'] as const) {
    if (!Number.isInteger(s[key]) || s[key] <= 0) return `${key} must be a positive integer, found ${s[key]}`;
  }
  if (s.heads % s.kvHeads !== 0) return `heads (${s.heads}) must be a multiple of kvHeads (${s.kvHeads})`;
  if (s.dim % 4 !== 0 || s.hiddenDim % 4 !== 0 || s.headDim % 4 !== 0) return `dim (${s.dim}), hiddenDim (${s.hiddenDim}) and headDim (${s.headDim}) must be multiples of 4 (vec4 kernels)`;
  return undefined;
}

/** Rows of the fused q, k, v projection: H d + 2 G d. */
export function qkvRows(s: EngineShape): number {
  return (s.heads + 2 * s.kvHeads) * s.headDim;
}

/** Parameters per layer and in total (embedding and output head counted separately). */
export function parameterCounts(s: EngineShape): { perLayer: number; embedding: number; output: number; total: number } {
  const attn = qkvRows(s) * s.dim + s.dim * s.heads * s.headDim;
  const ffn = 3 * s.dim * s.hiddenDim;
  const perLayer = attn + ffn + 2 * s.dim;
  const embedding = s.vocabSize * s.dim;
  const output = s.vocabSize * s.dim;
  return { perLayer, embedding, output, total: s.layers * perLayer + embedding + output + s.dim };
}

/**
 * Bytes of weights a decode step reads: every matrix (stored as `dtype`), every gain (f32), and B rows of the
 * embedding.
 */
export function weightBytesPerStep(s: EngineShape, batch: number, dtype: StorageDType = 'f32'): number {
  const c = parameterCounts(s);
  const e = STORAGE_BYTES[dtype];
  const gains = (2 * s.layers + 1) * s.dim;
  return e * (s.layers * (c.perLayer - 2 * s.dim) + c.output + batch * s.dim) + 4 * gains;
}

/** Bytes the weights occupy on the device: matrices and embedding as `dtype`, gains f32; a tied head is the embedding. */
export function weightStorageBytes(s: EngineShape, dtype: StorageDType, tied = false): number {
  const c = parameterCounts(s);
  const e = STORAGE_BYTES[dtype];
  const gains = (2 * s.layers + 1) * s.dim;
  return e * (s.layers * (c.perLayer - 2 * s.dim) + c.embedding + (tied ? 0 : c.output)) + 4 * gains;
}

/** Bytes of one sequence's KV cache at `tokens` positions (every layer, keys and values), stored as `dtype`. */
export function kvBytes(s: EngineShape, tokens: number, dtype: StorageDType = 'f32'): number {
  return 2 * s.layers * s.kvHeads * tokens * s.headDim * STORAGE_BYTES[dtype];
}
