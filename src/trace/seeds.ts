/**
 * Every seed rule of the project, in one home: how one user-given seed becomes the independent 32-bit seeds
 * of mulberry32 streams (random.ts) per layer, decode window, key or stream. Each rule is part of what a
 * recorded seed means: changing a constant or a shift here changes results recorded under the same seed
 * (test/trace/seeds.test.ts pins a few values of each).
 */

/** Synthetic trace streams: a seed and a stream id (0: the model, l + 1: layer l) mixed, splitmix32-style. */
export function mixSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream + 0x632be5ab, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The random method's stream of a layer: distinct layers get unrelated streams. */
export function layerSeed(seed: number, layer: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(layer + 1, 0xc2b2ae35)) >>> 0;
}

/** ClusterKV's K-means seed per (layer, part): part 0 is the prompt, part w + 1 the w-th decode window. */
export function deriveSeed(seed: number, layer: number, part: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(layer + 1, 0xc2b2ae35) ^ Math.imul(part + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The clustering diagnostics' K-means seed per (layer, part), part as in deriveSeed: seed + layer +
 * 7919 part, an additive offset older than deriveSeed that the recorded diagnostics were made with.
 */
export function offsetSeed(seed: number, layer: number, part: number): number {
  return seed + layer + 7919 * part;
}

/** A passkey grid's seed per (grid seed, key index, purpose: 0 the key, 1 the filler offset). */
export function passkeySeed(seed: number, keyIndex: number, purpose: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x85ebca6b) ^ Math.imul(keyIndex + 1, 0xc2b2ae35) ^ Math.imul(purpose + 1, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

/**
 * The seed of the `fill`-th seeded fill of random device weights (the e2e engine's weights without a
 * checkpoint): seed 7919 + fill 104729 (mod 2^32), the rule its recorded e2e runs were made with.
 */
export function deviceFillSeed(seed: number, fill: number): number {
  return (seed * 7919 + fill * 104729) >>> 0;
}

/**
 * The e2e bench's first input token of sequence `sequence` (later steps feed back their own argmax):
 * (seed 7919 + sequence 104729 + 17) mod vocabSize, the rule its recorded e2e runs were made with.
 */
export function firstTokenId(seed: number, sequence: number, vocabSize: number): number {
  return (seed * 7919 + sequence * 104729 + 17) % vocabSize;
}
