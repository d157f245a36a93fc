import { describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../src/sim/symmetric-eigen.js';
import { mulberry32 } from '../reference/metrics.js';

/** A random symmetric n x n matrix X^T X (positive semidefinite) or X + X^T. */
function randomSymmetric(n: number, seed: number, psd: boolean): number[] {
  const r = mulberry32(seed);
  const x = Array.from({ length: n * n }, () => r() * 2 - 1);
  const a = new Array<number>(n * n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (psd) for (let k = 0; k < n; k++) a[i * n + j] += x[k * n + i] * x[k * n + j];
      else a[i * n + j] = x[i * n + j] + x[j * n + i];
    }
  }
  return a;
}

describe('symmetricEigen (cyclic Jacobi)', () => {
  it.each([
    [1, 1, true],
    [4, 2, true],
    [8, 3, false],
    [33, 4, true],
    [64, 5, false],
  ])('n = %i (seed %i): A v = lambda v, orthonormal columns, eigenvalues descending', (n, seed, psd) => {
    const a = randomSymmetric(n, seed, psd);
    const { values, vectors } = symmetricEigen(a, n);
    const scale = Math.max(...values.map(Math.abs));
    for (let j = 0; j < n; j++) {
      if (j > 0) expect(values[j]).toBeLessThanOrEqual(values[j - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[k * n + j];
        expect(Math.abs(av - values[j] * vectors[i * n + j])).toBeLessThan(1e-9 * scale);
      }
      for (let l = 0; l < n; l++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += vectors[i * n + j] * vectors[i * n + l];
        expect(Math.abs(dot - (j === l ? 1 : 0))).toBeLessThan(1e-10);
      }
    }
  });

  it('a diagonal matrix gives its entries sorted and the unit vectors, largest entry positive', () => {
    const { values, vectors } = symmetricEigen([2, 0, 0, 0, 5, 0, 0, 0, -1], 3);
    expect(Array.from(values)).toEqual([5, 2, -1]);
    expect(Array.from(vectors)).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 1]);
  });

  it('a zero matrix gives zeros and the identity; bad shapes are refused', () => {
    const { values, vectors } = symmetricEigen(new Float64Array(4), 2);
    expect(Array.from(values)).toEqual([0, 0]);
    expect(Array.from(vectors)).toEqual([1, 0, 0, 1]);
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/expected 4 entries/);
    expect(() => symmetricEigen([], 0)).toThrow(/positive integer/);
  });
});
