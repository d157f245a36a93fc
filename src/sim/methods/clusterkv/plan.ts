/**
 * ClusterKV's plan: the rules every implementation and every caller shares, in one home.
 *   ranges   which positions are clustered, into how many clusters: the prompt after the attention sinks
 *            into C0 = ceil(L / tokensPerCluster) (or a fixed `clusters`), each closed decode window into
 *            windowClusters (its positions below the sinks, when the prompt is shorter than the sinks, stay
 *            sinks)
 *   seeds    the K-means seed of each range (src/trace/seeds.ts holds the mixing functions)
 *   params   the parameters of a configured method, typed, and the declared defaults
 * Users: the tfjs layer (layer.ts), the engine's batched state (batched.ts), the clustering diagnostics,
 * the kernel bench, the quickstart and the study.
 */
import { deriveSeed, offsetSeed } from '../../../trace/seeds.js';
import type { Method } from '../../selector.js';
import { CLUSTERKV_PARAMS, type ClusterKVParams } from './params.js';

/** A run of positions to cluster: positions start .. start + tokens - 1 into `clusters` clusters. */
export interface ClusterRange {
  start: number;
  tokens: number;
  clusters: number;
}

/** C0 of `tokens` positions to cluster: `clusters` when it is given (> 0), else ceil(tokens / tokensPerCluster). */
export function clusterCount(p: { clusters: number; tokensPerCluster: number }, tokens: number): number {
  return p.clusters > 0 ? p.clusters : Math.ceil(tokens / p.tokensPerCluster);
}

/** The prompt's range (P positions): after the sinks, into C0 clusters (clusterCount). */
export function promptClustering(p: { sinks: number; clusters: number; tokensPerCluster: number }, P: number): ClusterRange {
  const start = Math.min(p.sinks, P);
  const n = P - start;
  // a prompt inside the sinks has nothing to cluster (decode windows still are); otherwise C0 must fit
  if (p.clusters > 0 && n > 0 && p.clusters > n) {
    throw new RangeError(`clusterkv: parameter 'clusters' (${p.clusters}) is more than the ${n} prompt tokens to cluster (prompt ${P} minus ${start} sinks)`);
  }
  return { start, tokens: n, clusters: n === 0 ? 0 : clusterCount(p, n) };
}

/**
 * The range of decode window w (0, 1, ...) after `from` (the prefill length P): the window's positions
 * from the sinks on, into windowClusters (none when the whole window lies inside the sinks).
 */
export function windowClustering(p: { sinks: number; window: number; windowClusters: number }, from: number, w: number): ClusterRange {
  const windowStart = from + w * p.window;
  const skip = Math.min(p.window, Math.max(0, p.sinks - windowStart));
  const n = p.window - skip;
  return { start: windowStart + skip, tokens: n, clusters: n > 0 ? Math.min(p.windowClusters, n) : 0 };
}

/**
 * The most clusters a KV head's index holds over a sequence of `capacity` positions (the prompt's C0 plus
 * every decode window closed by the last position, capacity - 1) for a prompt of `prompt` positions, or
 * whatever the prompt when it is not given, and the most positions a single clustering reads; what the
 * engine sizes a layer's clusters by before it allocates (batched.ts).
 */
export function mostClusters(p: { sinks: number; window: number; windowClusters: number; clusters: number; tokensPerCluster: number }, capacity: number, prompt?: number): { clusters: number; clustered: number } {
  let clusters = 0;
  for (let P = prompt ?? 1; P <= (prompt ?? capacity); P++) {
    const n = P - Math.min(p.sinks, P);
    // a fixed C0 above the prompt's tokens is refused for that prompt (promptClustering)
    if (p.clusters > 0 && n > 0 && p.clusters > n) continue;
    const closed = p.window > 0 ? Math.floor((capacity - 1 - P) / p.window) : 0;
    let k = promptClustering(p, P).clusters;
    let w = 0;
    // windows reaching into the sinks cluster fewer positions; the rest each cluster min(windowClusters, window)
    for (; w < closed && P + w * p.window < p.sinks; w++) k += windowClustering(p, P, w).clusters;
    k += (closed - w) * Math.min(p.windowClusters, p.window);
    clusters = Math.max(clusters, k);
  }
  return { clusters, clustered: Math.max(0, (prompt ?? capacity) - p.sinks) };
}

/** Positions start .. start + n - 1. */
export function positions(start: number, n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => start + i);
}

/** The K-means seed of a layer's prompt (window absent) or of its decode window w. */
export function clusteringSeed(p: { seed: number }, layer: number, window?: number): number {
  return deriveSeed(p.seed, layer, window === undefined ? 0 : window + 1);
}

/**
 * The clustering diagnostics' K-means seed (src/sim/diagnostics.ts), prompt and windows as in
 * clusteringSeed: an older additive rule, kept so that recorded diagnostics stay as they are. Its clusters
 * are therefore not the very ones a ClusterKV run builds, only clusters by the same rule.
 */
export function diagnosticsSeed(p: { seed: number }, layer: number, window?: number): number {
  return offsetSeed(p.seed, layer, window === undefined ? 0 : window + 1);
}

/** ClusterKV's declared defaults (params.ts), every parameter but the budget, which has none. */
export const CLUSTERKV_DEFAULTS: Readonly<Omit<ClusterKVParams, 'budget'>> = Object.freeze(
  Object.fromEntries(Object.entries(CLUSTERKV_PARAMS).flatMap(([key, spec]) => (spec.default === undefined ? [] : [[key, spec.default]]))) as Omit<ClusterKVParams, 'budget'>,
);

/**
 * The parameters of a configured ClusterKV method (createMethod('clusterkv', ...)), typed, so that no caller
 * reads them by string key. Each is checked against its declaration: a method of another name, or one whose
 * parameters are not ClusterKV's, is refused.
 */
export function clusterkvParams(method: Method): ClusterKVParams {
  if (method.name !== 'clusterkv') throw new RangeError(`expected method 'clusterkv', got '${method.name}'`);
  for (const [key, spec] of Object.entries(CLUSTERKV_PARAMS)) {
    if (!spec.valid(method.params[key])) throw new RangeError(`clusterkv: parameter '${key}' of the method is ${JSON.stringify(method.params[key])}, not ${spec.accepts}`);
  }
  return method.params as unknown as ClusterKVParams;
}
