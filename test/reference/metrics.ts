/** Plain-TypeScript reference of the step metrics (float64, loops), independent of src/. */
export interface RefHeadMetrics {
  massRecall: number;
  topkRecall: number;
  outputRelError: number;
  outputCosine: number;
}

/**
 * q: [H*d]; keys, values: [G*T*d]; tokens: per head the attended positions.
 * Query head h reads KV head floor(h / (H/G)); weights softmax(q.k / sqrt(d)).
 */
export function referenceStepMetrics(q: Float32Array, keys: Float32Array, values: Float32Array, H: number, G: number, T: number, d: number, tokens: number[][]): RefHeadMetrics[] {
  const out: RefHeadMetrics[] = [];
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / G));
    const logits = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[h * d + i] * keys[(g * T + t) * d + i];
      logits[t] = s / Math.sqrt(d);
    }
    const attend = (set: number[]) => {
      const max = Math.max(...set.map((t) => logits[t]));
      let z = 0;
      for (const t of set) z += Math.exp(logits[t] - max);
      const o = new Float64Array(d);
      for (const t of set) {
        const w = Math.exp(logits[t] - max) / z;
        for (let i = 0; i < d; i++) o[i] += w * values[(g * T + t) * d + i];
      }
      return { o, max, z };
    };
    const all = Array.from({ length: T }, (_, t) => t);
    const full = attend(all);
    const weight = (t: number) => Math.exp(logits[t] - full.max) / full.z;
    const set = tokens[h];
    const mass = set.reduce((s, t) => s + weight(t), 0);
    const ranked = [...all].sort((a, b) => logits[b] - logits[a]);
    const top = new Set(ranked.slice(0, set.length));
    const inTop = set.filter((t) => top.has(t)).length / set.length;
    const sparse = attend(set).o;
    let diff = 0;
    let norm = 0;
    let dot = 0;
    let normS = 0;
    for (let i = 0; i < d; i++) {
      diff += (sparse[i] - full.o[i]) ** 2;
      norm += full.o[i] ** 2;
      dot += sparse[i] * full.o[i];
      normS += sparse[i] ** 2;
    }
    out.push({ massRecall: mass, topkRecall: inTop, outputRelError: Math.sqrt(diff / norm), outputCosine: dot / Math.sqrt(norm * normS) });
  }
  return out;
}

/** Seeded uniform PRNG (mulberry32) for test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomNormalArray(n: number, rand: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()) * scale;
  }
  return out;
}
