/**
 * Rotary position embedding, llama2.c convention: inside each head the interleaved pairs (2i, 2i+1) rotate
 * by angle pos * theta^(-2i/d) (ropeFrequencies of src/trace/rope.ts, rounded to float32). Angles are
 * computed on the fly for any position (no stored table), in float32 arithmetic like the PyTorch/llama2.c
 * code the checkpoints were trained with.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ropeFrequencies } from '../trace/rope.js';

export interface RopeAngles {
  /** [n, 1, d]: cos of each pair's angle, repeated for both members */
  cos: tf.Tensor3D;
  /** [n, 1, d]: sin, likewise */
  sin: tf.Tensor3D;
  /** [d, d]: x R swaps each pair and negates the first: (x0, x1) -> (-x1, x0) */
  rotate: tf.Tensor2D;
}

/** cos/sin for positions start..start+n-1. */
export function ropeAngles(start: number, n: number, headDim: number, theta: number): RopeAngles {
  const half = headDim / 2;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  const freqs = ropeFrequencies(headDim, theta, 'f32');
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround((start + p) * freqs[i]);
      const at = p * headDim + 2 * i;
      cos[at] = cos[at + 1] = Math.cos(angle);
      sin[at] = sin[at + 1] = Math.sin(angle);
    }
  }
  const rotate = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    rotate[(2 * i + 1) * headDim + 2 * i] = -1;
    rotate[2 * i * headDim + 2 * i + 1] = 1;
  }
  return { cos: tf.tensor3d(cos, [n, 1, headDim]), sin: tf.tensor3d(sin, [n, 1, headDim]), rotate: tf.tensor2d(rotate, [headDim, headDim]) };
}

export function disposeRopeAngles(a: RopeAngles): void {
  tf.dispose([a.cos, a.sin, a.rotate]);
}

/**
 * Rotates x [n, heads, d] (positions given by `angles`, n rows) and returns [n, heads, d]:
 * x * cos + (x R) * sin, i.e. (x0 c - x1 s, x0 s + x1 c) per pair. The pair swap is a 2D matMul with a
 * signed permutation (exact: one non-zero term per output), much faster on wasm than split + concat.
 */
export function applyRope(x: tf.Tensor3D, angles: RopeAngles): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, heads, d] = x.shape;
    const swapped = tf.reshape(tf.matMul(tf.reshape(x, [n * heads, d]), angles.rotate), [n, heads, d]);
    return tf.add(tf.mul(x, angles.cos), tf.mul(swapped, angles.sin)) as tf.Tensor3D;
  });
}
