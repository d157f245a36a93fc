/** The dimensions of a Llama-family decoder, whatever checkpoint format it came from. */
export interface ModelConfig {
  /** model width (residual stream) */
  dim: number;
  /** SwiGLU hidden width */
  hiddenDim: number;
  layers: number;
  /** query heads H */
  heads: number;
  /** KV heads G (H is a multiple of G) */
  kvHeads: number;
  /** head dimension d */
  headDim: number;
  vocabSize: number;
  /** the context the model was trained at (RoPE is computed on the fly, so longer inputs still run) */
  maxSeqLen: number;
  ropeTheta: number;
  normEps: number;
  /** the output head shares the token embedding */
  tiedEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2) */
  qkvBias: boolean;
}

/** Checks the relations between the dimensions; returns the problem, or undefined when consistent. */
export function configProblem(c: ModelConfig): string | undefined {
  for (const key of ['dim', 'hiddenDim', 'layers', 'heads', 'kvHeads', 'headDim', 'vocabSize', 'maxSeqLen'] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) return `${key} must be a positive integer, found ${c[key]}`;
  }
  if (c.heads % c.kvHeads !== 0) return `heads (${c.heads}) must be a multiple of kvHeads (${c.kvHeads})`;
  if (c.headDim % 2 !== 0) return `headDim must be even for RoPE, found ${c.headDim}`;
  if (!(c.ropeTheta > 0)) return `ropeTheta must be positive, found ${c.ropeTheta}`;
  if (!(c.normEps > 0)) return `normEps must be positive, found ${c.normEps}`;
  return undefined;
}
