// The one quantile (src/sim/quantile.ts): type 7 (linear between the order statistics around q * (n - 1)),
// so an even count's median is the mean of its two middle values. Checked by hand on small cases and against
// arquero's op.quantile and op.median, which the plots' spread bands and the diagnostics use.
import * as aq from 'arquero';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, medianPerKey, quantile } from '../../src/sim/quantile.js';

describe('quantile', () => {
  it('takes the middle value of an odd count and the mean of the two middle values of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([7])).toBe(7);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 20])).toBe(15);
    expect(median([1, 1, 5, 9])).toBe(3);
  });

  it('interpolates between order statistics and reaches the extremes at 0 and 1', () => {
    const tenths = Array.from({ length: 11 }, (_, i) => 10 - i);
    expect(quantile(tenths, 0.1)).toBeCloseTo(1, 12);
    expect(quantile(tenths, 0.9)).toBeCloseTo(9, 12);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantile([5, -2, 8], 0)).toBe(-2);
    expect(quantile([5, -2, 8], 1)).toBe(8);
    expect(median([1, Infinity])).toBe(Infinity);
    expect(median([Infinity, Infinity])).toBe(Infinity);
  });

  it('leaves its input as it was and refuses no values or q outside [0, 1]', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
    expect(() => median([])).toThrow(/no values/);
    expect(() => quantile([1], 1.5)).toThrow(/q must be in \[0, 1\]/);
    expect(() => quantile([1], Number.NaN)).toThrow(/q must be in \[0, 1\]/);
  });

  it("agrees with arquero's op.quantile and op.median", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
        const table = aq.table({ x: xs });
        const row = table.rollup({ q: aq.op.quantile('x', q), m: aq.op.median('x') }).objects()[0] as { q: number; m: number };
        expect(quantile(xs, q)).toBeCloseTo(row.q, 6);
        expect(median(xs)).toBeCloseTo(row.m, 6);
      }),
      { numRuns: 200, seed: 18 },
    );
  });
});

describe('medianPerKey', () => {
  it('takes each key of any record, a record without it counting 0', () => {
    expect(medianPerKey([{ a: 1, b: 4 }, { a: 3 }, { a: 2, c: 6 }])).toEqual({ a: 2, b: 0, c: 0 });
    expect(medianPerKey([{ a: 1 }, { a: 4 }])).toEqual({ a: 2.5 });
    expect(medianPerKey([])).toEqual({});
  });
});
