/**
 * Rotary position embedding, llama2.c convention: inside each head the interleaved pairs (2i, 2i+1) rotate
 * by angle pos * theta^(-2i/d). Angles are computed on the fly for any position (no stored table), in
 * float32 arithmetic like the PyTorch/llama2.c code the checkpoints were trained with.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface RopeAngles {
  /** [n, 1, d/2, 1] */
  cos: tf.Tensor4D;
  /** [n, 1, d/2, 1] */
  sin: tf.Tensor4D;
}

/** cos/sin for positions start..start+n-1. */
export function ropeAngles(start: number, n: number, headDim: number, theta: number): RopeAngles {
  const half = headDim / 2;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim))));
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround((start + p) * freqs[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: tf.tensor4d(cos, [n, 1, half, 1]), sin: tf.tensor4d(sin, [n, 1, half, 1]) };
}

/** Rotates x [n, heads, d] (positions given by `angles`, n rows) and returns [n, heads, d]. */
export function applyRope(x: tf.Tensor3D, angles: RopeAngles): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, heads, d] = x.shape;
    const pairs = tf.reshape(x, [n, heads, d / 2, 2]);
    const [even, odd] = tf.split(pairs, 2, 3);
    const rotEven = tf.sub(tf.mul(even, angles.cos), tf.mul(odd, angles.sin));
    const rotOdd = tf.add(tf.mul(even, angles.sin), tf.mul(odd, angles.cos));
    return tf.reshape(tf.concat([rotEven, rotOdd], 3), [n, heads, d]) as tf.Tensor3D;
  });
}
