/** Plain-TypeScript reference of the clustering diagnostics (float64, loops), independent of src/. */
const norm = (x: number[]) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const cosine = (a: number[], b: number[]) => dot(a, b) / Math.max(norm(a) * norm(b), 1e-30);

/** keys[n] and labels[n] of one KV head, centroids[k]: per cluster, size and 1 - mean cosine to the centroid. */
export function refClusterStats(keys: number[][], labels: number[], centroids: number[][]): { size: number; dispersion: number | null }[] {
  return centroids.map((c, j) => {
    const members = keys.filter((_, i) => labels[i] === j);
    if (members.length === 0) return { size: 0, dispersion: null };
    return { size: members.length, dispersion: 1 - members.reduce((s, k) => s + cosine(k, c), 0) / members.length };
  });
}

/**
 * One query head over one KV head's clusters: rank clusters by q.centroid (ties: lower id), take tokens in
 * position order within each cluster until b; compare with the top-b positions by q.k.
 */
export function refSelectionStats(q: number[], keys: number[][], positions: number[], labels: number[], centroids: number[][], b: number) {
  const order = centroids.map((c, j) => [dot(q, c), j] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
  const taken: { size: number; taken: number }[] = [];
  const chosen: number[] = [];
  for (const [, j] of order) {
    if (chosen.length === b) break;
    const members = positions.filter((_, i) => labels[i] === j);
    if (members.length === 0) continue;
    const t = Math.min(members.length, b - chosen.length);
    chosen.push(...members.slice(0, t));
    taken.push({ size: members.length, taken: t });
  }
  const top = new Set(positions.map((p, i) => [dot(q, keys[i]), p] as const).sort((x, y) => y[0] - x[0]).slice(0, b).map(([, p]) => p));
  const last = taken[taken.length - 1];
  return {
    clustersTouched: taken.length,
    lastClusterCutShare: last ? (last.size - last.taken) / last.size : 0,
    fragmentation: chosen.filter((p) => top.has(p)).length / b,
  };
}

export function refNearestCosine(window: number[][], prompt: number[][]): number[] {
  return window.map((w) => Math.max(...prompt.map((p) => cosine(w, p))));
}
