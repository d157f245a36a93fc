/**
 * The engine's matrix products in plain TypeScript (float64): Y[m, r] = sum_i W[r, i] X[m, i] for n rows of X,
 * W [rows, cols] (the engine's weight layout), then the epilogue of gemv.ts / gemm.ts: plain, bias (+ extra[r]),
 * residual (+ extra[m, r]) or swiglu (rows interleaved gate/up: silu(gate_j) up_j, [n, rows / 2]).
 */
export type ProductEpilogue = 'plain' | 'bias' | 'residual' | 'swiglu';

export function productReference(W: ArrayLike<number>, X: ArrayLike<number>, extra: ArrayLike<number> | undefined, rows: number, cols: number, n: number, epilogue: ProductEpilogue): Float64Array {
  const dot = new Float64Array(n * rows);
  for (let m = 0; m < n; m++) for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < cols; i++) s += W[r * cols + i] * X[m * cols + i];
    dot[m * rows + r] = s + (epilogue === 'residual' ? extra![m * rows + r] : epilogue === 'bias' ? extra![r] : 0);
  }
  if (epilogue !== 'swiglu') return dot;
  const out = new Float64Array((n * rows) / 2);
  for (let m = 0; m < n; m++) for (let j = 0; j < rows / 2; j++) {
    const g = dot[m * rows + 2 * j];
    out[m * (rows / 2) + j] = (g / (1 + Math.exp(-g))) * dot[m * rows + 2 * j + 1];
  }
  return out;
}
