/**
 * Clustering diagnostics of ClusterKV on a trace (docs/DESIGN.md#clustering-diagnostics), as arquero tables:
 *   clusters   per layer, KV head and prompt cluster: size (the size distribution) and dispersion
 *              = 1 - mean cosine of the members' keys to their centroid (0: tight, 1: no better than random)
 *   selection  per layer, decode step and query head, ranking the prompt clusters by q.centroid and taking
 *              `budget` tokens: clustersTouched, lastClusterCutShare (share of the last selected cluster
 *              left out by the cut) and fragmentation = share of the selected tokens that lie in the true
 *              top-B by q.k over the same clustered tokens (1: the clusters hold exactly the top-B)
 *   drift      per layer, KV head, window and window cluster: cosine between the window's centroid and its
 *              nearest prompt centroid (low: decode keys moved to regions the prompt clusters do not cover)
 * Clustering, ranking and indexing are src/gpu's (cosineKMeans, buildClusterIndex, selectClusters); the
 * ranges, C0 and seeds are ClusterKV's plan (methods/clusterkv/plan.ts; the seeds its diagnosticsSeed rule).
 * Windows: consecutive `window`-token spans from `windowsFrom` (default: the prefill length, i.e. the decode
 * tokens); prompt clusters are built on [sinks, windowsFrom). Traces with few decode steps can set
 * windowsFrom inside the prompt to measure how later prompt spans drift from the earlier ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as aq from 'arquero';
import { buildClusterIndex, disposeClusterIndex } from '../gpu/cluster-index.js';
import { queryGroupSize } from '../gpu/heads.js';
import { cosineKMeans, normalise, type KMeansResult } from '../gpu/kmeans.js';
import { disposeClusterSelection, readClusterChoiceAsync, selectClusters } from '../gpu/selection.js';
import { clusterStats } from './cluster-stats.js';
import type { TraceReader } from '../trace/index.js';
import { driveLayer } from './layer-driver.js';
import { clusterkv } from './methods/clusterkv/index.js';
import type { ClusterKVParams } from './methods/clusterkv/params.js';
import { resolveParams } from './methods/define.js';
import { CLUSTERKV_DEFAULTS, diagnosticsSeed, positions as positionRange, promptClustering, windowClustering } from './methods/clusterkv/plan.js';

/**
 * ClusterKV's parameters the diagnostics share (their meaning, defaults and checks: methods/clusterkv/), the
 * budget included.
 */
const SHARED_KEYS = ['clusters', 'tokensPerCluster', 'iters', 'seed', 'sinks', 'window', 'windowClusters', 'budget'] as const;
type SharedParams = Pick<ClusterKVParams, Exclude<(typeof SHARED_KEYS)[number], 'budget'>>;

export interface DiagnosticsOptions extends SharedParams {
  /** tokens taken per query head in the selection diagnostics */
  budget: number;
  /** start of the drift windows (default: the prefill length) */
  windowsFrom?: number;
  /** layers (default all) */
  layers?: number[];
}

/** ClusterKV's own defaults (methods/clusterkv/plan.ts), and a budget of 512 tokens for the selection diagnostics. */
const { clusters, tokensPerCluster, iters, seed, sinks, window, windowClusters } = CLUSTERKV_DEFAULTS;
export const DIAGNOSTICS_DEFAULTS: DiagnosticsOptions = { clusters, tokensPerCluster, iters, seed, sinks, budget: 512, window, windowClusters };

export interface SelectionStatRow {
  head: number;
  clustersTouched: number;
  lastClusterCutShare: number;
  fragmentation: number;
}

/**
 * Per query head: rank the clusters of `km` by q.centroid, take `budget` tokens (the last cluster cut), and
 * compare with the true top-B by q.k. q: [H, d]; keys: [G, N, d] (the clustered keys, at `positions`).
 */
export async function selectionStats(q: tf.Tensor2D, keys: tf.Tensor3D, positions: Int32Array, km: KMeansResult, budget: number): Promise<SelectionStatRow[]> {
  const [H, d] = q.shape;
  const [G, N] = keys.shape;
  const b = Math.min(budget, N);
  const group = queryGroupSize(H, G);
  const index = buildClusterIndex(km.labels, km.centroids.shape[1], positions);
  const sel = selectClusters(q, km.centroids, index, b);
  try {
    const choice = await readClusterChoiceAsync(sel);
    const top = tf.tidy(() => {
      const scores = tf.reshape(tf.matMul(tf.reshape(q, [G, group, d]), tf.transpose(keys, [0, 2, 1])), [H, N]);
      return tf.topk(scores, b, true).indices;
    });
    const topIdx = await top.data();
    top.dispose();
    const chosen = await sel.tokens.data();
    const rows: SelectionStatRow[] = [];
    for (let h = 0; h < H; h++) {
      const truth = new Set<number>();
      for (let i = 0; i < b; i++) truth.add(positions[topIdx[h * b + i]]);
      let inTop = 0;
      for (let i = 0; i < b; i++) if (truth.has(chosen[h * b + i])) inTop++;
      const taken = choice.taken[h];
      const sizes = choice.sizes[h];
      const last = taken.length - 1;
      rows.push({
        head: h,
        clustersTouched: taken.length,
        lastClusterCutShare: last >= 0 ? (sizes[last] - taken[last]) / sizes[last] : 0,
        fragmentation: b > 0 ? inTop / b : 1,
      });
    }
    return rows;
  } finally {
    disposeClusterSelection(sel);
    disposeClusterIndex(index);
  }
}

/** [G, kw]: per window centroid, the cosine to its nearest prompt centroid. prompt: [G, k0, d]; window: [G, kw, d]. */
export function nearestCentroidCosine(prompt: tf.Tensor3D, window: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => tf.max(tf.matMul(normalise(window), tf.transpose(normalise(prompt), [0, 2, 1])), 2) as tf.Tensor2D);
}

export interface TraceDiagnostics {
  clusters: aq.ColumnTable;
  selection: aq.ColumnTable;
  drift: aq.ColumnTable;
}

/** Runs the three diagnostics over the chosen layers of a trace, one layer read at a time. */
export async function traceDiagnostics(reader: TraceReader, options: Partial<DiagnosticsOptions> = {}): Promise<TraceDiagnostics> {
  const given: DiagnosticsOptions = { ...DIAGNOSTICS_DEFAULTS, ...options };
  // ClusterKV's parameters by ClusterKV's own checks (each declaration's, then the method's across them);
  // the checked values (an option given as undefined takes its default) are the ones used
  const checked = resolveParams(clusterkv, Object.fromEntries(SHARED_KEYS.map((k) => [k, given[k]])));
  const o: DiagnosticsOptions = { ...given, ...(Object.fromEntries(SHARED_KEYS.map((k) => [k, checked[k]])) as Pick<DiagnosticsOptions, (typeof SHARED_KEYS)[number]>) };
  const { layers: L, heads: H, kvHeads: G, headDim: d } = reader.manifest.model;
  const T = reader.manifest.contextLength;
  const P = reader.manifest.prefillLength;
  const S = reader.manifest.stepPositions.length;
  const windowsFrom = o.windowsFrom ?? P;
  if (!Number.isInteger(windowsFrom) || windowsFrom < 1) throw new RangeError(`diagnostics: windowsFrom must be an integer >= 1, got ${windowsFrom}`);
  if (windowsFrom > T) throw new RangeError(`diagnostics: windowsFrom ${windowsFrom} is past the context (${T} tokens)`);
  const promptEnd = Math.min(P, windowsFrom);
  const n = promptEnd - o.sinks;
  if (n < 1) throw new RangeError(`diagnostics: no prompt tokens to cluster (sinks ${o.sinks}, prompt end ${promptEnd})`);
  // ClusterKV's plan: positions [sinks, promptEnd) into C0 clusters (it refuses a fixed C0 above n)
  const { start: promptStart, clusters: k0 } = promptClustering(o, promptEnd);
  const layers = o.layers ?? Array.from({ length: L }, (_, l) => l);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new RangeError(`layer ${l} is out of range: the trace has ${L} (0..${L - 1})`);
  const positions = positionRange(promptStart, n);
  const clusterRows: Record<string, number | null>[] = [];
  const selectionRows: Record<string, number | null>[] = [];
  const driftRows: Record<string, number | null>[] = [];
  for (const layer of layers) {
    // the driver owns the layer's tensors; no methods: its steps give each decode query
    const held: { prompt?: tf.Tensor3D; km?: KMeansResult } = {};
    try {
      await driveLayer(reader.manifest, layer, await reader.readLayer(layer), [], S - 1, {
        begin: async ({ keys }) => {
          const prompt = (held.prompt = tf.slice(keys, [0, promptStart, 0], [-1, n, -1]));
          const km = (held.km = cosineKMeans(prompt, k0, { iters: o.iters, seed: diagnosticsSeed(o, layer) }));
          for (const r of await clusterStats(prompt, km.labels, km.centroids)) clusterRows.push({ layer, ...r });
          // each whole window from windowsFrom (past the sinks, as n >= 1: all its tokens, into windowClusters)
          for (let w = 0; windowsFrom + (w + 1) * o.window <= T; w++) {
            const { start, tokens, clusters } = windowClustering(o, windowsFrom, w);
            const span = tf.slice(keys, [0, start, 0], [-1, tokens, -1]);
            const wk = cosineKMeans(span, clusters, { iters: o.iters, seed: diagnosticsSeed(o, layer, w) });
            const near = nearestCentroidCosine(km.centroids, wk.centroids);
            const values = await near.data();
            tf.dispose([span, wk.centroids, wk.labels, near]);
            for (let g = 0; g < G; g++) {
              for (let c = 0; c < clusters; c++) driftRows.push({ layer, kvHead: g, window: w, windowStart: start, cluster: c, nearestPromptCosine: values[g * clusters + c] });
            }
          }
        },
        stepStart: async (step) => {
          for (const r of await selectionStats(step.q, held.prompt!, positions, held.km!, o.budget)) selectionRows.push({ layer, step: step.step, position: step.position, ...r });
        },
      });
    } finally {
      const owned: tf.Tensor[] = [];
      if (held.prompt) owned.push(held.prompt);
      if (held.km) owned.push(held.km.centroids, held.km.labels);
      tf.dispose(owned);
    }
  }
  return {
    clusters: aq.from(clusterRows),
    selection: aq.from(selectionRows),
    drift: aq.from(driftRows),
  };
}

/** Per layer: cluster count, size quantiles and mean dispersion (weighted by size). */
export function summarizeClusters(table: aq.ColumnTable): aq.ColumnTable {
  return table
    .filter('d => d.size > 0')
    .derive({ weighted: 'd => d.size * d.dispersion' })
    .groupby('layer')
    .rollup({
      clusters: aq.op.count(),
      sizeMin: aq.op.min('size'),
      sizeMedian: aq.op.median('size'),
      sizeMax: aq.op.max('size'),
      tokens: aq.op.sum('size'),
      weighted: aq.op.sum('weighted'),
    })
    .derive({ dispersion: 'd => d.weighted / d.tokens' })
    .select(aq.not('weighted'))
    .orderby('layer');
}
