/** Seeded token ids for model tests. */

/** n token ids in 1..vocab-1 from a seeded LCG (different seeds: different prompts). */
export function lcgTokens(n: number, vocab: number, seed: number): number[] {
  let a = seed;
  return Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return 1 + (a % (vocab - 1));
  });
}
