/**
 * Plain-TypeScript reference of InfiniGen's speculated query (float64, loops), independent of src/: layer l's
 * query from layer l - 1's attention input, RMSNorm(previous) with layer l - 1's attention norm, times layer
 * l's W_q (plus its bias), RoPE at the step's position on the interleaved pairs (2i, 2i+1) at angle
 * position * theta^(-2i / d) (the llama2.c convention).
 */

export interface RefQueryWeights {
  /** [dim] layer l - 1's attention RMSNorm gain */
  previousNorm: ArrayLike<number>;
  /** [dim, H * d] layer l's query weights, row-major (x W_q) */
  wq: ArrayLike<number>;
  /** [H * d] layer l's query bias, if it has one */
  bq?: ArrayLike<number>;
  dim: number;
  heads: number;
  headDim: number;
  normEps: number;
  ropeTheta: number;
}

/** The speculated query [H * d] (head-major) of one position. previous: [dim] the residual stream entering layer l - 1. */
export function refSpeculatedQuery(previous: ArrayLike<number>, w: RefQueryWeights, position: number): Float64Array {
  const { dim, heads: H, headDim: d } = w;
  let ms = 0;
  for (let i = 0; i < dim; i++) ms += previous[i] * previous[i];
  const scale = 1 / Math.sqrt(ms / dim + w.normEps);
  const xn = Array.from({ length: dim }, (_, i) => previous[i] * scale * w.previousNorm[i]);
  const q = new Float64Array(H * d);
  for (let j = 0; j < H * d; j++) {
    let s = w.bq ? w.bq[j] : 0;
    for (let i = 0; i < dim; i++) s += xn[i] * w.wq[i * H * d + j];
    q[j] = s;
  }
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = position * Math.pow(w.ropeTheta, (-2 * i) / d);
      const [c, s] = [Math.cos(angle), Math.sin(angle)];
      const at = h * d + 2 * i;
      const [x0, x1] = [q[at], q[at + 1]];
      q[at] = x0 * c - x1 * s;
      q[at + 1] = x0 * s + x1 * c;
    }
  }
  return q;
}
