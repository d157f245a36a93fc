/**
 * The one seeded PRNG of the project (no Math.random anywhere): mulberry32, the uniform stream the synthetic
 * generator, K-means initialisation (made on the host, so every backend starts from the same keys), the
 * random method, sampling and the passkey grid draw from. Seeds come from seeds.ts.
 */

/**
 * mulberry32's state increment: the state after n draws is seed + n MULBERRY_STEP (mod 2^32), which the GPU
 * twin of the stream (src/gpu/wgsl/select/random-draw.ts) uses to jump to a head's first draw.
 */
export const MULBERRY_STEP = 0x6d2b79f5;

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + MULBERRY_STEP) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** k distinct indices of 0..n-1 in random order (partial Fisher-Yates), drawn from `next`. */
export function distinctIndices(n: number, k: number, next: () => number): Int32Array {
  if (k > n) throw new RangeError(`cannot choose ${k} distinct indices from ${n}`);
  const pool = new Int32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(next() * (n - i));
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.slice(0, k);
}

/** mulberry32 uniforms with Box-Muller normals (the synthetic generator's stream). */
export class SeededRandom {
  private readonly next: () => number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Standard normal. */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]: log is finite
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}
