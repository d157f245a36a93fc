/**
 * Exact causal softmax attention (GQA) for a block of consecutive queries, chunked over queries so that a
 * long context never materialises a [T, T] score matrix per head: each chunk holds at most
 * `maxScoreElements` scores (all heads together).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Scores held at once by one query chunk (16M floats = 64 MB; softmax makes a few transient copies). */
export const DEFAULT_MAX_SCORE_ELEMENTS = 1 << 24;

/**
 * Queries q [n, H, d] sit at positions queryStart..queryStart+n-1; query i attends keys 0..queryStart+i.
 * keysT [G, d, T] (keys stored transposed so matMul needs no transposeB), values [G, T, d], T >= queryStart+n.
 * Query head h reads KV head floor(h / (H / G)). Scores are scaled by 1/sqrt(d). Returns [n, H, d].
 */
export function causalAttention(
  q: tf.Tensor3D,
  keysT: tf.Tensor3D,
  values: tf.Tensor3D,
  queryStart: number,
  maxScoreElements = DEFAULT_MAX_SCORE_ELEMENTS,
): tf.Tensor3D {
  const [n, H, d] = q.shape;
  const [G, , T] = keysT.shape;
  if (H % G !== 0) throw new RangeError(`query heads (${H}) must be a multiple of KV heads (${G})`);
  if (queryStart + n > T) throw new RangeError(`queries reach position ${queryStart + n - 1} but only ${T} keys are given`);
  const hq = H / G;
  const chunk = Math.max(1, Math.floor(maxScoreElements / (H * (queryStart + n))));
  const scale = 1 / Math.sqrt(d);
  const outs: tf.Tensor3D[] = [];
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    outs.push(
      tf.tidy(() => {
        const tk = queryStart + s + c; // keys this chunk can see
        const qc = tf.reshape(tf.transpose(tf.reshape(tf.slice(q, [s, 0, 0], [c, H, d]), [c, G, hq, d]), [1, 2, 0, 3]), [G, hq * c, d]);
        const kT = tk === T ? keysT : tf.slice(keysT, [0, 0, 0], [G, d, tk]);
        const v = tk === T ? values : tf.slice(values, [0, 0, 0], [G, tk, d]);
        let scores = tf.reshape(tf.mul(tf.matMul(qc, kT), scale), [G, hq, c, tk]);
        if (c > 1) scores = tf.add(scores, causalMask(c, tk));
        const probs = tf.reshape(tf.softmax(scores), [G, hq * c, tk]);
        const o = tf.reshape(tf.matMul(probs, v), [G, hq, c, d]);
        return tf.reshape(tf.transpose(o, [2, 0, 1, 3]), [c, H, d]) as tf.Tensor3D;
      }),
    );
  }
  if (outs.length === 1) return outs[0];
  const out = tf.concat(outs, 0);
  for (const t of outs) t.dispose();
  return out;
}

/** [c, tk] additive mask: 0 where key j <= query position (tk - c + i), a large negative number after it. */
function causalMask(c: number, tk: number): tf.Tensor2D {
  const mask = new Float32Array(c * tk);
  const first = tk - c;
  for (let i = 0; i < c; i++) mask.fill(-1e30, i * tk + first + i + 1, (i + 1) * tk);
  return tf.tensor2d(mask, [c, tk]);
}
