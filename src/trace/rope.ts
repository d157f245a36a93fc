/**
 * Rotary position embedding, interleaved-pair convention (llama2.c / Meta Llama): dims (2i, 2i+1) form a pair
 * rotated by angle position * theta^(-2i/d).
 */

/**
 * Per-pair frequencies theta^(-2i/d), i = 0..d/2-1, the one RoPE frequency formula of the project, in one of
 * two roundings: 'f64' in double precision (the synthetic traces), 'f32' as the float32 PyTorch/llama2.c
 * code the checkpoints were trained with computes it, 1 / f32(theta^f32(2i/d)) with every step rounded to
 * float32 (the model path and the decode engine; each value is exactly a float32).
 */
export function ropeFrequencies(headDim: number, theta: number, rounding: 'f64' | 'f32' = 'f64'): Float64Array {
  const freqs = new Float64Array(headDim / 2);
  for (let i = 0; i < freqs.length; i++) {
    freqs[i] = rounding === 'f64' ? Math.pow(theta, (-2 * i) / headDim) : Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim))));
  }
  return freqs;
}

/** Rotate the vector x[offset .. offset + d) in place to `position`. freqs: [d / 2] from ropeFrequencies. */
export function applyRope(x: Float32Array | Float64Array, offset: number, position: number, freqs: Float64Array): void {
  for (let i = 0; i < freqs.length; i++) {
    const angle = position * freqs[i];
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = x[offset + 2 * i];
    const b = x[offset + 2 * i + 1];
    x[offset + 2 * i] = a * c - b * s;
    x[offset + 2 * i + 1] = a * s + b * c;
  }
}
