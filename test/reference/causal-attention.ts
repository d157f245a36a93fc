/**
 * Causal attention in plain TypeScript (float64): out[i, h] = softmax over positions j <= start + i of
 * q[i, h] . k[j, g] / sqrt(d), times v[j, g], query head h reading KV head g = floor(h / (H / G)).
 * q: [n, H, d]; keys and values through `at(position, kvHead)`, the offset of that row in `k` and `v`, so
 * one reference serves every layout (the model's rows [T, G, d], the engine's cache [G, T, d]).
 */
export function causalAttentionReference(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, at: (position: number, kvHead: number) => number, n: number, H: number, G: number, d: number, start: number): Float64Array {
  const out = new Float64Array(n * H * d);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / G));
      const p = start + i;
      const w = new Float64Array(p + 1);
      let max = -Infinity;
      for (let j = 0; j <= p; j++) {
        let dot = 0;
        for (let x = 0; x < d; x++) dot += q[(i * H + h) * d + x] * k[at(j, g) + x];
        w[j] = dot / Math.sqrt(d);
        max = Math.max(max, w[j]);
      }
      let sum = 0;
      for (let j = 0; j <= p; j++) sum += w[j] = Math.exp(w[j] - max);
      for (let j = 0; j <= p; j++) for (let x = 0; x < d; x++) out[(i * H + h) * d + x] += (w[j] / sum) * v[at(j, g) + x];
    }
  }
  return out;
}
