/**
 * Eigen-decomposition of a small symmetric matrix on the host (cyclic Jacobi rotations, float64). The right
 * singular vectors of a matrix X [n, d] are the eigenvectors of its Gram matrix X^T X [d, d], and the
 * eigenvalues are the squared singular values, so this is the SVD InfiniGen's skewing needs (one d x d
 * Gram matrix per query head, d <= 256), done once per layer at the first decode step.
 * Jacobi is chosen for being short and accurate on symmetric matrices; its O(d^3) per sweep is a few ms at d = 128.
 */

export interface SymmetricEigen {
  /** [n] eigenvalues, descending */
  values: Float64Array;
  /**
   * [n * n] row-major: column j is the unit eigenvector of values[j]; each column's largest-magnitude entry
   * is positive (the sign rule that makes the result deterministic)
   */
  vectors: Float64Array;
}

/** Eigenvalues and eigenvectors of the symmetric n x n matrix `a` (row-major; only symmetric input is meaningful). */
export function symmetricEigen(a: ArrayLike<number>, n: number, maxSweeps = 64): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`symmetricEigen: n must be a positive integer, got ${n}`);
  if (a.length !== n * n) throw new RangeError(`symmetricEigen: expected ${n * n} entries for a ${n} x ${n} matrix, got ${a.length}`);
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] * m[i];
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        // the rotation that zeroes m[p][q] (Numerical Recipes' form: t = tan of the angle, the smaller root)
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const arp = m[r * n + p];
          const arq = m[r * n + q];
          m[r * n + p] = c * arp - s * arq;
          m[r * n + q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = m[p * n + r];
          const aqr = m[q * n + r];
          m[p * n + r] = c * apr - s * aqr;
          m[q * n + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p];
          const vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  // descending eigenvalues, ties to the lower column (stable)
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => m[y * n + y] - m[x * n + x] || x - y);
  const values = Float64Array.from(order, (j) => m[j * n + j]);
  const vectors = new Float64Array(n * n);
  order.forEach((j, col) => {
    let big = 0;
    for (let r = 0; r < n; r++) if (Math.abs(v[r * n + j]) > Math.abs(v[big * n + j])) big = r;
    const sign = v[big * n + j] < 0 ? -1 : 1;
    for (let r = 0; r < n; r++) vectors[r * n + col] = sign * v[r * n + j];
  });
  return { values, vectors };
}
