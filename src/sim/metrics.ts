/**
 * Recall-fidelity metrics of one decode step (DESIGN.md "Metrics"). With full weights
 * a_i = softmax(q.k_i / sqrt(d)) over every position 0..p, full output o and selected set S:
 *   massRecall      sum_{i in S} a_i
 *   topkRecall      |S ∩ TopK| / k with k = |S|
 *   outputRelError  ||o_S - o|| / ||o||, outputCosine cos(o_S, o)
 *   density         |S| / (p + 1)
 *   tokensAttended  |S| per query head; tokensLoaded |union of S over the query heads of its KV head|
 * The full attention of a step is computed once (referenceAttention) and shared by every method.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attentionWeights, denseAttention } from '../gpu/attention.js';

export interface StepReference {
  /** [H, T] full softmax weights */
  weights: tf.Tensor2D;
  /** [H, d] dense output */
  output: tf.Tensor2D;
}

export interface HeadMetrics {
  massRecall: number;
  topkRecall: number;
  outputRelError: number;
  outputCosine: number;
  density: number;
  tokensAttended: number;
  tokensLoaded: number;
}

/** q: [H, d]; keys, values: [G, T, d] (positions 0..p). Caller disposes the result with disposeReference. */
export function referenceAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): StepReference {
  return { weights: attentionWeights(q, keys), output: denseAttention(q, keys, values) };
}

export function disposeReference(ref: StepReference): void {
  ref.weights.dispose();
  ref.output.dispose();
}

/**
 * Metrics per query head of a selection. tokens: [H, n] int32 distinct positions in 0..T-1;
 * dense: the selection is every position (Selection.dense), answered without computing.
 * q: [H, d]; keys, values: [G, T, d].
 */
export async function selectionMetrics(
  ref: StepReference,
  q: tf.Tensor2D,
  keys: tf.Tensor3D,
  values: tf.Tensor3D,
  tokens: tf.Tensor2D,
  dense = false,
): Promise<HeadMetrics[]> {
  const [heads, n] = tokens.shape;
  const contextLength = keys.shape[1];
  const kvHeads = keys.shape[0];
  if (dense) {
    // every position attended: the sparse output is the dense one
    if (n !== contextLength) throw new RangeError(`a dense selection must attend all ${contextLength} positions, got ${n}`);
    const all = { massRecall: 1, topkRecall: 1, outputRelError: 0, outputCosine: 1, density: 1, tokensAttended: n, tokensLoaded: n };
    return Array.from({ length: heads }, () => ({ ...all }));
  }
  const groupSize = heads / kvHeads;
  const stats = tf.tidy(() => {
    // mask [H, T] of the selection (a scatter: no per-head gather of keys and values, slow on wasm)
    const rows = tf.broadcastTo(tf.expandDims(tf.range(0, heads, 1, 'int32'), 1), [heads, n]);
    const where = tf.reshape(tf.stack([rows, tf.cast(tokens, 'int32')], 2), [heads * n, 2]);
    const mask = tf.scatterND(where, tf.ones([heads * n]), [heads, contextLength]) as tf.Tensor2D;
    const kept = tf.mul(ref.weights, mask); // [H, T]
    const mass = tf.sum(kept, 1); // [H]
    const kth = tf.min(tf.topk(ref.weights, n, false).values, 1, true); // [H, 1]
    const inTop = tf.minimum(tf.div(tf.sum(tf.mul(mask, tf.cast(tf.greaterEqual(ref.weights, kth), 'float32')), 1), n), 1);
    // softmax over S is the full softmax restricted to S and renormalised: o_S = sum_S a_i v_i / sum_S a_i
    const keptByGroup = tf.reshape(kept, [kvHeads, groupSize, contextLength]);
    const sparse = tf.div(tf.reshape(tf.matMul(keptByGroup, values), [heads, -1]), tf.expandDims(tf.maximum(mass, 1e-30), 1));
    const refNorm = tf.norm(ref.output, 'euclidean', 1);
    const relError = tf.div(tf.norm(tf.sub(sparse, ref.output), 'euclidean', 1), tf.maximum(refNorm, 1e-30));
    const cosine = tf.div(tf.sum(tf.mul(sparse, ref.output), 1), tf.maximum(tf.mul(tf.norm(sparse, 'euclidean', 1), refNorm), 1e-30));
    return tf.stack([mass, inTop, relError, cosine]) as tf.Tensor2D; // [4, H]
  });
  const [values4, tokenIds] = await Promise.all([stats.data(), tokens.data()]);
  stats.dispose();
  const loaded = tokensLoadedPerKvHead(tokenIds as Int32Array, heads, n, kvHeads);
  const out: HeadMetrics[] = [];
  for (let h = 0; h < heads; h++) {
    out.push({
      massRecall: values4[h],
      topkRecall: values4[heads + h],
      outputRelError: values4[2 * heads + h],
      outputCosine: values4[3 * heads + h],
      density: n / contextLength,
      tokensAttended: n,
      tokensLoaded: loaded[Math.floor(h / groupSize)],
    });
  }
  return out;
}

/** GQA accounting: the positions a KV head must load are the union over its query heads' selections. */
export function tokensLoadedPerKvHead(tokens: Int32Array, heads: number, n: number, kvHeads: number): number[] {
  const groupSize = heads / kvHeads;
  const out: number[] = [];
  for (let g = 0; g < kvHeads; g++) {
    const seen = new Set<number>();
    for (let h = g * groupSize; h < (g + 1) * groupSize; h++) {
      for (let i = 0; i < n; i++) seen.add(tokens[h * n + i]);
    }
    out.push(seen.size);
  }
  return out;
}
