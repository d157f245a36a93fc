/**
 * The seed rules (src/trace/seeds.ts) and the PRNG (src/trace/random.ts) pinned: these values were computed
 * with the rules as they stood when results were first recorded under them, so a changed constant or shift
 * (which would silently change every result recorded under the same seed) fails here.
 */
import { describe, expect, it } from 'vitest';
import { MULBERRY_STEP, mulberry32, SeededRandom } from '../../src/trace/random.js';
import { deriveSeed, deviceFillSeed, firstTokenId, layerSeed, mixSeed, offsetSeed, passkeySeed } from '../../src/trace/seeds.js';

/** (seed, layer or key index or stream, part or purpose) */
const CASES: [number, number, number][] = [[0, 0, 0], [0, 3, 1], [5, 1, 0], [42, 7, 12], [4294967295, 31, 2]];

describe('seed rules', () => {
  it('deriveSeed (ClusterKV per layer and part)', () => {
    expect(CASES.map(([s, l, p]) => deriveSeed(s, l, p))).toEqual([997314350, 3817018529, 1981739894, 551982107, 3582287716]);
  });

  it('layerSeed (the random method per layer)', () => {
    expect(CASES.map(([s, l]) => layerSeed(s, l))).toEqual([2210498696, 3420033831, 3627521534, 4121182233, 257630690]);
  });

  it('mixSeed (synthetic trace streams)', () => {
    expect(CASES.map(([s, stream]) => mixSeed(s, stream))).toEqual([2490172555, 2692923125, 803971951, 1947773153, 963414461]);
  });

  it('passkeySeed (passkey grid per key and purpose)', () => {
    expect(CASES.map(([s, k, p]) => passkeySeed(s, k, p))).toEqual([2188325914, 2216668375, 325971619, 1254666051, 3786564396]);
  });

  it('offsetSeed (the clustering diagnostics: seed + layer + 7919 part)', () => {
    expect(CASES.map(([s, l, p]) => offsetSeed(s, l, p))).toEqual([0, 7922, 6, 95077, 4294983164]);
  });

  it('deviceFillSeed (the e2e engine\'s random device weights per fill: seed 7919 + fill 104729)', () => {
    expect(CASES.map(([s, fill]) => deviceFillSeed(s, fill))).toEqual([0, 314187, 144324, 1065701, 3238680]);
  });

  it('firstTokenId (the e2e bench\'s first token per sequence: seed 7919 + sequence 104729 + 17, mod vocab)', () => {
    expect(CASES.map(([s, b]) => firstTokenId(s, b, 32000))).toEqual([17, 26204, 16341, 9718, 7721]);
    expect(CASES.map(([s, b]) => firstTokenId(s, b, 128256))).toEqual([17, 57692, 16085, 39670, 117289]);
  });

  it('the rules give distinct seeds to neighbouring layers and parts', () => {
    const seeds = new Set<number>();
    for (let l = 0; l < 8; l++) for (let p = 0; p < 8; p++) seeds.add(deriveSeed(0, l, p));
    expect(seeds.size).toBe(64);
  });
});

describe('mulberry32', () => {
  it('draws the pinned stream, and SeededRandom draws the same uniforms', () => {
    const want = [0.011704753153026104, 0.06195825757458806, 0.97690763277933];
    const next = mulberry32(7);
    expect(want.map(() => next())).toEqual(want);
    const rng = new SeededRandom(7);
    expect(want.map(() => rng.uniform())).toEqual(want);
  });

  it('MULBERRY_STEP is the increment: a stream seeded n steps on draws what the stream draws after n draws', () => {
    expect(MULBERRY_STEP).toBe(0x6d2b79f5);
    const next = mulberry32(7);
    const draws = Array.from({ length: 6 }, () => next());
    for (const n of [1, 3, 5]) expect(mulberry32((7 + n * MULBERRY_STEP) >>> 0)()).toBe(draws[n]);
  });
});
