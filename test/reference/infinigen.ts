/**
 * Plain-TypeScript reference of InfiniGen's selection (float64, loops), independent of src/: the skewing
 * basis by power iteration with deflation (src/ uses Jacobi), the partial channels by the column sums of
 * |Q V|, approximate scores over the selectable range, the max - alpha count averaged over heads and the
 * top tokens per head. Layouts and data as in baselines.ts; calibration queries [H][n][d].
 */
import { dot, keyOf, refChosenCount, row, type RefData, type RefLayout } from './baselines.js';

/** Eigenvectors of a symmetric positive semidefinite matrix, by descending eigenvalue (power iteration, deflation). */
export function refEigenvectors(a: number[][], iters = 6000): { values: number[]; vectors: number[][] } {
  const n = a.length;
  const m = a.map((r) => [...r]);
  const values: number[] = [];
  const vectors: number[][] = [];
  for (let j = 0; j < n; j++) {
    let v = Array.from({ length: n }, (_, i) => 1 + ((i * 7 + j * 3) % 5) / 10);
    let lambda = 0;
    for (let it = 0; it < iters; it++) {
      const w = m.map((r) => dot(r, v));
      const norm = Math.sqrt(dot(w, w));
      if (norm === 0) break;
      lambda = dot(v, w) / dot(v, v);
      v = w.map((x) => x / norm);
    }
    const norm = Math.sqrt(dot(v, v));
    v = v.map((x) => x / norm);
    values.push(lambda);
    vectors.push(v);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) m[r][c] -= lambda * v[r] * v[c];
  }
  return { values, vectors };
}

/** Per head, the k partial channel directions (unit vectors in the original coordinates). queries: [H][n][d]. */
export function refPartialChannels(queries: number[][][], k: number): number[][][] {
  return queries.map((qs) => {
    const d = qs[0]?.length ?? 0;
    const gram = Array.from({ length: d }, (_, r) => Array.from({ length: d }, (_, c) => qs.reduce((s, q) => s + q[r] * q[c], 0)));
    const { vectors } = refEigenvectors(gram);
    const sums = vectors.map((v) => qs.reduce((s, q) => s + Math.abs(dot(q, v)), 0));
    const order = sums.map((s, j) => [s, j] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    return order.slice(0, k).map(([, j]) => vectors[j]);
  });
}

/** Per head, approximate logits sum_c (q.v_c)(k_t.v_c) / sqrt(d) of the selectable positions (in position order). */
export function refPartialLogits(data: RefData, layout: RefLayout, channels: number[][][]): number[][] {
  return Array.from({ length: data.H }, (_, h) => {
    const g = Math.floor(h / (data.H / data.G));
    const q = row(data.q, h, data.d);
    const qc = channels[h].map((v) => dot(q, v));
    const out: number[] = [];
    for (let t = layout.sinkEnd; t < layout.openStart; t++) {
      const k = keyOf(data, g, t);
      out.push(channels[h].reduce((s, v, c) => s + qc[c] * dot(k, v), 0) / Math.sqrt(data.d));
    }
    return out;
  });
}

/** The top b positions per head by logits over the selectable range (ties to the lower position). */
export function refTopPositions(logits: number[][], layout: RefLayout, b: number): number[][] {
  return logits.map((l) =>
    l
      .map((s, i) => [s, layout.sinkEnd + i] as const)
      .sort((x, y) => y[0] - x[0] || x[1] - y[1])
      .slice(0, b)
      .map(([, t]) => t),
  );
}

/** InfiniGen's count: per head #{s >= max - alpha}, the mean over heads truncated, capped at chosen. */
export function refThresholdCount(logits: number[][], alpha: number, chosen: number): number {
  const counts = logits.map((l) => {
    const max = Math.max(...l);
    return l.filter((s) => s >= max - alpha).length;
  });
  return Math.min(chosen, Math.floor(counts.reduce((a, b) => a + b, 0) / counts.length));
}

/** One step of InfiniGen: the chosen positions per head and their count. */
export function refInfiniGen(data: RefData, layout: RefLayout, budget: number, channels: number[][][], alpha: number, select: 'threshold' | 'top-b'): { chosen: number[][]; count: number } {
  const chosen = refChosenCount(budget, layout);
  if (chosen === 0) return { chosen: Array.from({ length: data.H }, () => []), count: 0 };
  const logits = refPartialLogits(data, layout, channels);
  const count = select === 'top-b' ? chosen : refThresholdCount(logits, alpha, chosen);
  return { chosen: refTopPositions(logits, layout, count), count };
}
