/**
 * Plain-TypeScript reference of the top-p budget (float64): per head the fewest top logits whose softmax mass
 * reaches p, clamped to [ceil(minShare cap), cap]; each head its own ('head') or one count for the layer
 * ('max' or truncated 'mean').
 */
export function refTopPCount(logits: number[], p: number): number {
  if (p >= 1) return logits.length;
  const sorted = [...logits].sort((a, b) => b - a);
  const max = sorted[0];
  const z = sorted.reduce((s, l) => s + Math.exp(l - max), 0);
  let mass = 0;
  let count = 0;
  for (const l of sorted) {
    if (mass >= p) break;
    mass += Math.exp(l - max) / z;
    count++;
  }
  return count;
}

/** Each head's clamped need. */
export function refHeadBudgets(needs: number[], cap: number, minShare: number): number[] {
  const floor = Math.min(cap, Math.ceil(minShare * cap));
  return needs.map((n) => Math.max(floor, Math.min(cap, n)));
}

/** The layer's one count from the clamped needs. */
export function refLayerBudget(needs: number[], cap: number, minShare: number, headBudget: 'max' | 'mean'): number {
  const clamped = refHeadBudgets(needs, cap, minShare);
  return headBudget === 'max' ? Math.max(...clamped) : Math.floor(clamped.reduce((a, b) => a + b, 0) / clamped.length);
}

/** Every head's budget under headBudget: its own ('head') or the layer's one count. */
export function refBudgets(needs: number[], cap: number, minShare: number, headBudget: 'head' | 'max' | 'mean'): number[] {
  return headBudget === 'head' ? refHeadBudgets(needs, cap, minShare) : needs.map(() => refLayerBudget(needs, cap, minShare, headBudget));
}
