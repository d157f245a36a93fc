/**
 * The weights of a Llama-family decoder as the forward pass uses them.
 *
 * Projection matrices are stored pre-transposed ([in, out], so y = x W) because tfjs-wasm's matMul with
 * transposeB is about 10x slower than on pre-transposed operands. q/k rows (and biases) follow the
 * interleaved RoPE convention of llama2.c (pairs (2i, 2i+1) of a head rotate together); loaders of
 * checkpoints in Hugging Face's rotate_half convention permute them at load time (see hf-loader.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.js';

export interface LayerWeights {
  /** [dim] RMSNorm gain before attention */
  attnNorm: tf.Tensor1D;
  /** [dim, H*d] */
  wq: tf.Tensor2D;
  /** [dim, G*d] */
  wk: tf.Tensor2D;
  /** [dim, G*d] */
  wv: tf.Tensor2D;
  /** [H*d] / [G*d] biases (Qwen2), absent otherwise */
  bq?: tf.Tensor1D;
  bk?: tf.Tensor1D;
  bv?: tf.Tensor1D;
  /** [H*d, dim] */
  wo: tf.Tensor2D;
  /** [dim] RMSNorm gain before the FFN */
  ffnNorm: tf.Tensor1D;
  /** gate [dim, hidden] (llama2.c w1, HF gate_proj) */
  w1: tf.Tensor2D;
  /** down [hidden, dim] (llama2.c w2, HF down_proj) */
  w2: tf.Tensor2D;
  /** up [dim, hidden] (llama2.c w3, HF up_proj) */
  w3: tf.Tensor2D;
}

export interface ModelWeights {
  /** [vocab, dim] token embedding (rows gathered by token id) */
  embedding: tf.Tensor2D;
  layers: LayerWeights[];
  /** [dim] final RMSNorm gain */
  finalNorm: tf.Tensor1D;
  /** [dim, vocab] output head (the transposed embedding when tied) */
  output: tf.Tensor2D;
}

/** Where a loaded model came from, for manifests and reports. */
export interface ModelSource {
  /** the file or folder loaded */
  path: string;
  /** 'llama2c' or 'hf' */
  format: 'llama2c' | 'hf';
  /** short name (file or folder base name) */
  name: string;
}

export interface LoadedModel {
  config: ModelConfig;
  weights: ModelWeights;
  source: ModelSource;
}

export function disposeWeights(w: ModelWeights): void {
  const seen = new Set<tf.Tensor>();
  const all: (tf.Tensor | undefined)[] = [w.embedding, w.finalNorm, w.output];
  for (const l of w.layers) all.push(l.attnNorm, l.wq, l.wk, l.wv, l.bq, l.bk, l.bv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3);
  for (const t of all) {
    if (t && !seen.has(t)) {
      seen.add(t);
      t.dispose();
    }
  }
}

/** [out, in] row-major (PyTorch Linear) -> tensor [in, out]. */
export function transposedMatrix(data: Float32Array, rows: number, cols: number): tf.Tensor2D {
  return tf.tidy(() => tf.transpose(tf.tensor2d(data, [rows, cols])) as tf.Tensor2D);
}
