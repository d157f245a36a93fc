/**
 * Which positions ClusterKV clusters, and into how many clusters: the prompt after the attention sinks (C0),
 * and each closed decode window (its positions below the sinks, when the prompt is shorter than the sinks,
 * stay sinks). One home for the rules that ClusterKVLayer and the end-to-end engine must share.
 */

/** A run of positions to cluster: positions start .. start + tokens - 1 into `clusters` clusters. */
export interface ClusterRange {
  start: number;
  tokens: number;
  clusters: number;
}

/** The prompt's range (P positions): after the sinks; C0 = `clusters`, else ceil(tokens / tokensPerCluster). */
export function promptClustering(p: { sinks: number; clusters: number; tokensPerCluster: number }, P: number): ClusterRange {
  const start = Math.min(p.sinks, P);
  const n = P - start;
  // a prompt inside the sinks has nothing to cluster (decode windows still are); otherwise C0 must fit
  if (p.clusters > 0 && n > 0 && p.clusters > n) {
    throw new RangeError(`clusterkv: parameter 'clusters' (${p.clusters}) is more than the ${n} prompt tokens to cluster (prompt ${P} minus ${start} sinks)`);
  }
  return { start, tokens: n, clusters: n === 0 ? 0 : p.clusters > 0 ? p.clusters : Math.ceil(n / p.tokensPerCluster) };
}

/** The range of the decode window that starts at `windowStart`: its positions from the sinks on, into windowClusters. */
export function windowClustering(p: { sinks: number; window: number; windowClusters: number }, windowStart: number): ClusterRange {
  const skip = Math.max(0, p.sinks - windowStart);
  const n = p.window - skip;
  return { start: windowStart + skip, tokens: n, clusters: n > 0 ? Math.min(p.windowClusters, n) : 0 };
}

/** Positions start .. start + n - 1. */
export function positions(start: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => start + i);
}
