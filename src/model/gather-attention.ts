/**
 * Softmax attention of one decode query over chosen positions (GQA), until src/gpu/attention.ts provides
 * sparseAttention with the same signature.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * q [H, d]; keys, values [G, T, d]; tokens [H, n] int32 positions per query head (query head h reads KV
 * head floor(h / (H / G))). Scores scaled by 1/sqrt(d). Returns [H, d].
 */
export function sparseAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [H, d] = q.shape;
    const [G, T] = keys.shape;
    const hq = H / G;
    const headBase = tf.reshape(tf.mul(tf.floorDiv(tf.range(0, H, 1, 'int32'), hq), T), [H, 1]);
    const flat = tf.add(tokens, headBase) as tf.Tensor2D;
    const kSel = tf.gather(tf.reshape(keys, [G * T, d]), flat); // [H, n, d]
    const vSel = tf.gather(tf.reshape(values, [G * T, d]), flat);
    const scores = tf.mul(tf.sum(tf.mul(kSel, tf.reshape(q, [H, 1, d])), 2), 1 / Math.sqrt(d)); // [H, n]
    const probs = tf.softmax(scores);
    return tf.sum(tf.mul(vSel, tf.expandDims(probs, 2)), 1) as tf.Tensor2D;
  });
}
