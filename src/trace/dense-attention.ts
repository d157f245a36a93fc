/**
 * Dense causal attention in plain TypeScript (float64 accumulation), used to store the reference output `out`
 * of a synthetic trace. The tfjs kernels live in src/gpu; this is data generation, not the studied path.
 */

/**
 * out[s, h] = sum_{i <= p_s} softmax_i(q[s,h] . k[g,i] / sqrt(d)) v[g,i], g = floor(h / (H / G)).
 * k, v: [G, T, d]; q: [S, H, d]; positions: [S] (p_s); returns [S, H, d].
 */
export function denseAttentionOutput(k: Float32Array, v: Float32Array, q: Float32Array, positions: readonly number[], dims: { heads: number; kvHeads: number; headDim: number; context: number }): Float32Array {
  const { heads: H, kvHeads: G, headDim: d, context: T } = dims;
  const S = positions.length;
  const group = H / G;
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(S * H * d);
  const logits = new Float64Array(T);
  const acc = new Float64Array(d);
  for (let s = 0; s < S; s++) {
    const p = positions[s];
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / group);
      const qo = (s * H + h) * d;
      let max = -Infinity;
      for (let i = 0; i <= p; i++) {
        const ko = (g * T + i) * d;
        let dot = 0;
        for (let j = 0; j < d; j++) dot += q[qo + j] * k[ko + j];
        const logit = dot * scale;
        logits[i] = logit;
        if (logit > max) max = logit;
      }
      acc.fill(0);
      let sum = 0;
      for (let i = 0; i <= p; i++) {
        const w = Math.exp(logits[i] - max);
        sum += w;
        const vo = (g * T + i) * d;
        for (let j = 0; j < d; j++) acc[j] += w * v[vo + j];
      }
      for (let j = 0; j < d; j++) out[qo + j] = acc[j] / sum;
    }
  }
  return out;
}
