/**
 * Plain-TypeScript reference of the ClusterKV kernels (float64 loops), written independently of src/.
 * Layouts: one KV head at a time; keys [N*d] row-major; centroids [k*d].
 */

/** Cosine K-means with the rule of docs/DESIGN.md#k-means from given initial centroids [k*d]. Ties: lowest cluster id. */
export function refCosineKMeans(keys: ArrayLike<number>, N: number, d: number, k: number, iters: number, init: ArrayLike<number>): { centroids: Float64Array; labels: Int32Array } {
  const centroids = Float64Array.from(init);
  const unit = (x: ArrayLike<number>, off: number) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += x[off + i] ** 2;
    return Math.sqrt(s);
  };
  const keyNorm = Array.from({ length: N }, (_, n) => unit(keys, n * d));
  const assign = () => {
    const labels = new Int32Array(N);
    const cNorm = Array.from({ length: k }, (_, c) => unit(centroids, c * d));
    for (let n = 0; n < N; n++) {
      let best = -Infinity;
      for (let c = 0; c < k; c++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += keys[n * d + i] * centroids[c * d + i];
        const cos = keyNorm[n] > 0 && cNorm[c] > 0 ? dot / (keyNorm[n] * cNorm[c]) : 0;
        if (cos > best) {
          best = cos;
          labels[n] = c;
        }
      }
    }
    return labels;
  };
  for (let it = 0; it < iters; it++) {
    const labels = assign();
    const sums = new Float64Array(k * d);
    const counts = new Int32Array(k);
    for (let n = 0; n < N; n++) {
      counts[labels[n]]++;
      for (let i = 0; i < d; i++) sums[labels[n] * d + i] += keys[n * d + i];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue; // empty cluster keeps its centroid
      for (let i = 0; i < d; i++) centroids[c * d + i] = sums[c * d + i] / counts[c];
    }
  }
  return { centroids, labels: assign() };
}

export interface RefIndex {
  sortedTokens: number[];
  sizes: number[];
  offsets: number[];
}

/** Counting sort of token ids by label (stable). */
export function refClusterIndex(labels: ArrayLike<number>, k: number, tokenIds: ArrayLike<number>): RefIndex {
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) sizes[labels[i]]++;
  const offsets = new Array<number>(k).fill(0);
  for (let c = 1; c < k; c++) offsets[c] = offsets[c - 1] + sizes[c - 1];
  const cursor = [...offsets];
  const sortedTokens = new Array<number>(labels.length);
  for (let i = 0; i < labels.length; i++) sortedTokens[cursor[labels[i]]++] = tokenIds[i];
  return { sortedTokens, sizes, offsets };
}

/**
 * One query head's selection: clusters by descending q.centroid (ties: lower id), whole clusters until the
 * budget, the last one cut. Returns the positions in rank order and the clusters used.
 */
export function refSelect(q: ArrayLike<number>, centroids: ArrayLike<number>, k: number, d: number, index: RefIndex, budget: number): { tokens: number[]; clusters: number[]; lastTaken: number } {
  const score = (c: number) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[i] * centroids[c * d + i];
    return s;
  };
  const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => score(b) - score(a) || a - b);
  const tokens: number[] = [];
  const clusters: number[] = [];
  let lastTaken = 0;
  for (const c of order) {
    if (tokens.length >= budget) break;
    const take = Math.min(index.sizes[c], budget - tokens.length);
    if (take === 0) continue;
    for (let j = 0; j < take; j++) tokens.push(index.sortedTokens[index.offsets[c] + j]);
    clusters.push(c);
    lastTaken = take;
  }
  return { tokens, clusters, lastTaken };
}

/** Softmax attention of one query over keys/values [T*d] at the given positions. */
export function refAttend(q: ArrayLike<number>, keys: ArrayLike<number>, values: ArrayLike<number>, d: number, positions: number[]): Float64Array {
  const logits = positions.map((t) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[i] * keys[t * d + i];
    return s / Math.sqrt(d);
  });
  const max = Math.max(...logits);
  const w = logits.map((l) => Math.exp(l - max));
  const z = w.reduce((a, b) => a + b, 0);
  const out = new Float64Array(d);
  positions.forEach((t, j) => {
    for (let i = 0; i < d; i++) out[i] += (w[j] / z) * values[t * d + i];
  });
  return out;
}

/** Seeded PRNG (mulberry32) and a standard normal, for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normals(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/**
 * Keys in `k` tight, well-separated directional clusters: N points per head, each a random unit direction
 * (one of k, nearly orthogonal in d >= 16) times a random scale in [0.5, 2], plus small noise. On such data the
 * cosine and euclidean-on-normalised assignments agree, and labels are far from ties.
 */
export function clusteredKeys(G: number, N: number, d: number, k: number, seed: number, noise = 0.05): { keys: Float32Array; truth: Int32Array } {
  const r = rng(seed);
  const dirs = normals(G * k * d, seed + 1);
  const keys = new Float32Array(G * N * d);
  const truth = new Int32Array(G * N);
  const eps = normals(G * N * d, seed + 2);
  for (let g = 0; g < G; g++) {
    for (let n = 0; n < N; n++) {
      const c = n < k ? n : Math.floor(r() * k); // every cluster has a member
      truth[g * N + n] = c;
      let norm = 0;
      for (let i = 0; i < d; i++) norm += dirs[(g * k + c) * d + i] ** 2;
      const scale = (0.5 + 1.5 * r()) / Math.sqrt(norm);
      for (let i = 0; i < d; i++) keys[(g * N + n) * d + i] = scale * (dirs[(g * k + c) * d + i] + noise * eps[(g * N + n) * d + i]);
    }
  }
  return { keys, truth };
}

/**
 * Token refinement: per query head, the top `budget` candidate positions by exact q.k (float64), ties to the
 * earlier position. q [H*d]; keys [G*T*d]; candidates[h]: positions of head h (query head h reads KV head
 * floor(h / (H/G))).
 */
export function refRefine(q: ArrayLike<number>, keys: ArrayLike<number>, H: number, G: number, T: number, d: number, candidates: number[][], budget: number): number[][] {
  return candidates.map((cand, h) => {
    const g = Math.floor(h / (H / G));
    const score = (t: number) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[h * d + i] * keys[(g * T + t) * d + i];
      return s;
    };
    return cand
      .map((t) => [score(t), t] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, budget)
      .map(([, t]) => t);
  });
}
