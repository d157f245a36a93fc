/**
 * The kernel list: every kernel of the ClusterKV path once, with what it computes, its implementations (for
 * a declared kernel, the ones its public function dispatches among: kernel-dispatch.ts; a stage that has
 * only an op chain lists that), how to build its seeded inputs at a shape, how to run it on each available
 * path ('ops': the tfjs op chain; 'wgsl': the custom WebGPU kernels), the bytes it must move at least, and
 * whether each output is exact (integers, compared element by element) or float. `clusterkv parity` and
 * `clusterkv bench` iterate this list; a test checks that it holds every declared kernel.
 *
 * fp16 variants (kvDtype 'f16', name '<kernel>-f16': the same declared kernel, so the same implementations)
 * take K, V and centroids as packed f16 (half-tensor.ts), rounded from the same seeded workload: both paths
 * compute on the same rounded numbers (the op chain on their decoded values), and `fp32` re-runs the fp32 op
 * chain on the unrounded K/V (and, where a selection is part of the kernel, the same rounded centroids, so
 * that both attend the same tokens), with the derived bound on the difference (half-error.ts). Exact outputs
 * of a selection on rounded centroids are compared only with the op chain on the same rounded centroids:
 * rounding may reorder near-equal scores.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendGathered, attentionWeights, denseAttention, denseAttentionKernel, gatherPerHead, sparseAttention, sparseAttentionKernel } from './attention.js';
import { appendClusters, buildClusterIndex, disposeClusterIndex } from './cluster-index.js';
import { selectAndAttend, selectAndAttendKernel } from './decode-step.js';
import { attentionFp16Bound, meanFp16Bound } from './half-error.js';
import { disposeKv, fromHalf, toHalf, type HalfTensor, type KvDtype } from './half-tensor.js';
import { declareKernel, type ImplementationInfo } from './kernel-dispatch.js';
import { disposeWorkload, plantedWorkload, type KernelShape, type Workload } from './kernel-inputs.js';
import { pathAvailable, withKernelPath, type KernelPath } from './kernel-path.js';
import { cosineKMeans, cosineKMeansKernel } from './kmeans.js';
import { mulberry32 } from '../trace/random.js';
import { DEFAULT_REFINE_POOL, refineCandidates } from './refine-candidates.js';
import { rankClusters, rankedTokens, rankedTokensKernel, scoreCentroids, selectClusters, selectClustersKernel, selectTokens, selectTokensKernel } from './selection.js';
import { copyWgsl, readWgsl } from './wgsl/ceilings/copy-read.js';

export type { KernelShape } from './kernel-inputs.js';

export interface KernelOutput {
  name: string;
  /** exact: integers, equal element by element; float: within a relative tolerance */
  kind: 'exact' | 'float';
}

/** A kernel's inputs, built for one shape on the active backend. */
export interface PreparedKernel {
  /** runs the kernel on `path` (one of the entry's paths); outputs in the entry's order, owned by the caller */
  run(path: KernelPath): tf.Tensor[];
  /**
   * fp16 variants: the fp32 op chain on the unrounded inputs (outputs in the entry's order) and the bound on
   * each float output's difference from it (exact outputs: 0, compared element by element)
   */
  fp32?: { run(): tf.Tensor[]; bounds(): Promise<number[]> };
  dispose(): void;
}

export interface KernelEntry {
  name: string;
  /** one line: what it computes, with shapes */
  computes: string;
  /** what dispatch chooses among, in order (a declared kernel's implementations; else the op chain alone) */
  implementations: readonly ImplementationInfo[];
  /** the paths of its implementations (wgsl ones run only on the webgpu backend: availablePaths) */
  paths: readonly KernelPath[];
  outputs: KernelOutput[];
  /** whether the budget B changes the work (the bench runs such kernels at every budget) */
  perBudget: boolean;
  /** bytes it must read and write at least (K, V and centroids at the entry's kvDtype, the rest fp32 or int32) */
  bytes(shape: KernelShape): number;
  /** storage of K, V and centroids for kernels that take them (undefined: the kernel takes none) */
  kvDtype?: KvDtype;
  setup(shape: KernelShape): PreparedKernel;
}

/** What an entry is of: a declared kernel, or a stage of the op chains that only has its op chain. */
interface Implemented {
  name: string;
  implementations: readonly ImplementationInfo[];
}

/** A stage with only an op chain (no choice to make: its public function is the op chain itself). */
const opChain = (name: string): Implemented => ({ name, implementations: [{ name: 'ops', path: 'ops' }] });

const F32 = 4;
const F16 = 2;
const I32 = 4;

type EntrySpec = Omit<KernelEntry, 'name' | 'implementations' | 'paths'> & { of: Implemented };

/** The entry of `of`, its name (with '-f16' for an fp16 variant) and paths taken from the implementations. */
function described({ of, ...rest }: EntrySpec): KernelEntry {
  const paths = [...new Set(of.implementations.map((i) => i.path))].sort((a, b) => (a === b ? 0 : a === 'ops' ? -1 : 1));
  return { name: rest.kvDtype === 'f16' ? `${of.name}-f16` : of.name, implementations: of.implementations, paths, ...rest };
}

/** An entry whose paths run `compute` with that path forced; `make` builds the inputs from the workload. */
function entry<I>(spec: Omit<EntrySpec, 'setup'> & { make: (w: Workload, shape: KernelShape) => I; compute: (inputs: I, shape: KernelShape) => tf.Tensor[]; free?: (inputs: I) => void }): KernelEntry {
  const { make, compute, free, ...rest } = spec;
  return described({
    ...rest,
    setup(shape) {
      const w = plantedWorkload(shape);
      const inputs = make(w, shape);
      return {
        run: (path) => withKernelPath(path, () => compute(inputs, shape)),
        dispose: () => {
          free?.(inputs);
          disposeWorkload(w);
        },
      };
    },
  });
}

/** The workload's K, V and centroids rounded to f16 (packed), and their decoded values. */
interface HalfWorkload {
  w: Workload;
  keys: HalfTensor;
  values: HalfTensor;
  centroids: HalfTensor;
  /** decoded float32 values of the three */
  keysF: tf.Tensor3D;
  valuesF: tf.Tensor3D;
  centroidsF: tf.Tensor3D;
}

function halfWorkload(w: Workload): HalfWorkload {
  const [keys, values, centroids] = [toHalf(w.keys), toHalf(w.values), toHalf(w.centroids)];
  return { w, keys, values, centroids, keysF: fromHalf(keys) as tf.Tensor3D, valuesF: fromHalf(values) as tf.Tensor3D, centroidsF: fromHalf(centroids) as tf.Tensor3D };
}

function disposeHalfWorkload(h: HalfWorkload): void {
  [h.keys, h.values, h.centroids].forEach(disposeKv);
  tf.dispose([h.keysF, h.valuesF, h.centroidsF]);
}

/**
 * The f16 variant of the kernel `of`: inputs rounded to f16 (halfWorkload), `compute` on both paths, `fp32` the
 * fp32 op chain with `bounds` on each output's difference from it (half-error.ts).
 */
function halfEntry<I>(spec: Omit<EntrySpec, 'setup' | 'kvDtype'> & {
  make: (h: HalfWorkload, shape: KernelShape) => I;
  compute: (inputs: I, shape: KernelShape) => tf.Tensor[];
  fp32?: { run: (inputs: I, shape: KernelShape) => tf.Tensor[]; bounds: (inputs: I) => Promise<number[]> };
  free?: (inputs: I) => void;
}): KernelEntry {
  const { make, compute, fp32, free, ...rest } = spec;
  return described({
    ...rest,
    kvDtype: 'f16',
    setup(shape) {
      const w = plantedWorkload(shape);
      const h = halfWorkload(w);
      const inputs = make(h, shape);
      return {
        run: (path) => withKernelPath(path, () => compute(inputs, shape)),
        fp32: fp32 && { run: () => withKernelPath('ops', () => fp32.run(inputs, shape)), bounds: () => fp32.bounds(inputs) },
        dispose: () => {
          free?.(inputs);
          disposeHalfWorkload(h);
          disposeWorkload(w);
        },
      };
    },
  });
}

/** The fp16 attention bound of a half workload (every row of K and V). */
const kvBound = (h: HalfWorkload) => attentionFp16Bound(h.w.q, h.w.keys, h.keysF, h.w.values, h.valuesF);

/** The copy ceiling: the op chain's copy is an elementwise add of 0 (tfjs shares a tensor's data on clone). */
export const copyKernel = declareKernel<[x: tf.Tensor1D], tf.Tensor>('copy', [
  { name: 'wgsl', path: 'wgsl', run: copyWgsl },
  { name: 'ops', path: 'ops', run: (x) => tf.tidy(() => tf.add(x, tf.scalar(0))) },
]);

/** The read ceiling: WGSL only (no op chain reads without writing; checked in test/gpu/wgsl/kernels.test.ts). */
export const readKernel = declareKernel<[x: tf.Tensor1D], tf.Tensor>('read', [{ name: 'wgsl', path: 'wgsl', run: readWgsl }]);

/** n = min(B, T): tokens a step attends per head. */
const taken = (s: KernelShape) => Math.min(s.budget, s.context);

/** The candidate pool of token refinement: the best clusters' first DEFAULT_REFINE_POOL x B tokens (at most T). */
const pooled = (s: KernelShape) => Math.min(DEFAULT_REFINE_POOL * s.budget, s.context);

/** A flat float tensor the size of K and V together: seeded values when small, zeros (the same bytes) when large. */
function kvSized(s: KernelShape): tf.Tensor1D {
  const n = 2 * s.kvHeads * s.context * s.headDim;
  if (n > 1 << 22) return tf.zeros([n]) as tf.Tensor1D;
  const r = mulberry32(s.seed + 11);
  return tf.tensor1d(Float32Array.from({ length: n }, () => r() * 2 - 1));
}

/** Scores rounded to a coarse grid: ties are common, so the tie rule is exercised. */
function tiedScores(w: Workload): tf.Tensor2D {
  return tf.tidy(() => tf.div(tf.round(tf.mul(scoreCentroids(w.q, w.centroids), 2)), 2) as tf.Tensor2D);
}

export const KERNELS: readonly KernelEntry[] = [
  described({
    of: copyKernel,
    computes: 'out = x over [2, G, T, d] floats (the K and V bytes): the copy ceiling',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: false,
    bytes: (s) => 2 * 2 * s.kvHeads * s.context * s.headDim * F32,
    setup(s) {
      const x = kvSized(s);
      return { run: (path) => [withKernelPath(path, () => copyKernel.run(x))], dispose: () => x.dispose() };
    },
  }),
  described({
    of: readKernel,
    computes: 'per-workgroup sums of [2, G, T, d] floats: the read ceiling (no op chain; checked in test/gpu/wgsl/kernels.test.ts)',
    outputs: [{ name: 'partials', kind: 'float' }],
    perBudget: false,
    bytes: (s) => 2 * s.kvHeads * s.context * s.headDim * F32,
    setup(s) {
      const x = kvSized(s);
      return { run: (path) => [withKernelPath(path, () => readKernel.run(x))], dispose: () => x.dispose() };
    },
  }),
  entry({
    of: opChain('score-centroids'),
    computes: 'scores [H, K] = q [H, d] . centroids [G, K, d] (GQA)',
    outputs: [{ name: 'scores', kind: 'float' }],
    perBudget: false,
    bytes: (s) => (s.kvHeads * s.clusters * s.headDim + s.heads * s.headDim + s.heads * s.clusters) * F32,
    make: (w) => w,
    compute: (w) => [scoreCentroids(w.q, w.centroids)],
  }),
  entry({
    of: opChain('rank-clusters'),
    computes: 'cluster ids [H, K] by descending score, ties to the lower id (tf.topk over all K)',
    outputs: [{ name: 'ranked', kind: 'exact' }],
    perBudget: false,
    bytes: (s) => 2 * s.heads * s.clusters * F32,
    make: (w) => tiedScores(w),
    compute: (scores) => [rankClusters(scores)],
    free: (scores) => scores.dispose(),
  }),
  entry({
    of: rankedTokensKernel,
    computes: 'token positions [H, n] of ranked clusters [H, K] up to the budget, the last cluster cut',
    outputs: [{ name: 'tokens', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => s.heads * s.clusters * I32 + 2 * s.kvHeads * s.clusters * I32 + 2 * s.heads * taken(s) * I32,
    make: (w) => ({ w, ranked: tf.tidy(() => rankClusters(scoreCentroids(w.q, w.centroids))) }),
    compute: ({ w, ranked }, s) => [rankedTokens(ranked, w.index, s.budget)],
    free: ({ ranked }) => ranked.dispose(),
  }),
  entry({
    of: opChain('gather-kv'),
    computes: 'K and V rows [H, n, d] of the selected positions (a gathered copy)',
    outputs: [{ name: 'kSel', kind: 'float' }, { name: 'vSel', kind: 'float' }],
    perBudget: true,
    bytes: (s) => 2 * (s.heads * taken(s) * I32 + 2 * s.heads * taken(s) * s.headDim * F32),
    make: (w, s) => ({ w, tokens: withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, s.budget)) }),
    compute: ({ w, tokens }) => [gatherPerHead(w.keys, tokens), gatherPerHead(w.values, tokens)],
    free: ({ tokens }) => tokens.dispose(),
  }),
  entry({
    of: opChain('attend-gathered'),
    computes: 'softmax attention [H, d] over gathered rows [H, n, d]',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: true,
    bytes: (s) => (2 * s.heads * taken(s) * s.headDim + 2 * s.heads * s.headDim) * F32,
    make: (w, s) =>
      tf.tidy(() => {
        const tokens = withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, s.budget));
        return { q: w.q, kSel: gatherPerHead(w.keys, tokens), vSel: gatherPerHead(w.values, tokens) };
      }),
    compute: ({ q, kSel, vSel }) => [attendGathered(q, kSel, vSel)],
    free: ({ kSel, vSel }) => tf.dispose([kSel, vSel]),
  }),
  entry({
    of: selectTokensKernel,
    kvDtype: 'f32',
    computes: 'score, rank, prefix-sum and cut in one: token positions [H, n] (WGSL: one dispatch)',
    outputs: [{ name: 'tokens', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => (s.kvHeads * s.clusters * s.headDim + s.heads * s.headDim) * F32 + 2 * s.kvHeads * s.clusters * I32 + 2 * s.heads * taken(s) * I32,
    make: (w) => w,
    compute: (w, s) => [selectTokens(w.q, w.centroids, w.index, s.budget)],
  }),
  entry({
    of: selectClustersKernel,
    kvDtype: 'f32',
    computes: 'selectClusters: tokens [H, n], ranked, taken and ranked sizes [H, K]',
    outputs: [{ name: 'tokens', kind: 'exact' }, { name: 'ranked', kind: 'exact' }, { name: 'taken', kind: 'exact' }, { name: 'rankedSizes', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => (s.kvHeads * s.clusters * s.headDim + s.heads * s.headDim) * F32 + 2 * s.kvHeads * s.clusters * I32 + 2 * s.heads * taken(s) * I32 + 3 * s.heads * s.clusters * I32,
    make: (w) => w,
    compute: (w, s) => {
      const sel = selectClusters(w.q, w.centroids, w.index, s.budget);
      return [sel.tokens, sel.ranked, sel.taken, sel.rankedSizes];
    },
  }),
  entry({
    of: opChain('refine-candidates'),
    computes: `token refinement: the top B [H, B] of a pool of ${DEFAULT_REFINE_POOL}B candidates [H, ${DEFAULT_REFINE_POOL}B] (the best clusters' tokens) by exact q.k, reading the candidates' keys`,
    outputs: [{ name: 'tokens', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => s.heads * pooled(s) * I32 + (s.heads * pooled(s) * s.headDim + s.heads * s.headDim) * F32 + s.heads * taken(s) * I32,
    make: (w, s) => ({ w, pool: withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, pooled(s))) }),
    compute: ({ w, pool }, s) => [refineCandidates(w.q, w.keys, pool, taken(s))],
    free: ({ pool }) => pool.dispose(),
  }),
  entry({
    of: sparseAttentionKernel,
    kvDtype: 'f32',
    computes: 'attention [H, d] over K and V rows read through positions [H, n] (GQA)',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: true,
    bytes: (s) => s.heads * taken(s) * I32 + (2 * s.heads * taken(s) * s.headDim + 2 * s.heads * s.headDim) * F32,
    make: (w, s) => ({ w, tokens: withKernelPath('ops', () => selectTokens(w.q, w.centroids, w.index, s.budget)) }),
    compute: ({ w, tokens }) => [sparseAttention(w.q, w.keys, w.values, tokens)],
    free: ({ tokens }) => tokens.dispose(),
  }),
  entry({
    of: selectAndAttendKernel,
    kvDtype: 'f32',
    computes: 'one ClusterKV decode step: select + sparse attention [H, d] (WGSL: three dispatches, one submit)',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: true,
    bytes: (s) => (s.kvHeads * s.clusters * s.headDim + s.heads * s.headDim) * F32 + 2 * s.kvHeads * s.clusters * I32 + s.heads * taken(s) * I32 + (2 * s.heads * taken(s) * s.headDim + 2 * s.heads * s.headDim) * F32,
    make: (w) => w,
    compute: (w, s) => [selectAndAttend(w.q, w.centroids, w.index, s.budget, w.keys, w.values)],
  }),
  entry({
    of: denseAttentionKernel,
    kvDtype: 'f32',
    computes: 'attention [H, d] over every cached key and value [G, T, d] (GQA)',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: false,
    bytes: (s) => (2 * s.kvHeads * s.context * s.headDim + 2 * s.heads * s.headDim) * F32,
    make: (w) => w,
    compute: (w) => [denseAttention(w.q, w.keys, w.values)],
  }),
  entry({
    of: opChain('attention-weights'),
    computes: 'softmax weights [H, T] of q over every key',
    outputs: [{ name: 'weights', kind: 'float' }],
    perBudget: false,
    bytes: (s) => (s.kvHeads * s.context * s.headDim + s.heads * s.context) * F32,
    make: (w) => w,
    compute: (w) => [attentionWeights(w.q, w.keys)],
  }),
  entry({
    of: opChain('cluster-index'),
    computes: 'cluster index of labels [G, T] plus 4 appended window clusters: sorted tokens, sizes, offsets',
    outputs: [{ name: 'sortedTokens', kind: 'exact' }, { name: 'sizes', kind: 'exact' }, { name: 'offsets', kind: 'exact' }],
    perBudget: false,
    bytes: (s) => 3 * s.kvHeads * s.context * I32 + 2 * s.kvHeads * (s.clusters + 4) * I32,
    make: (w, s) => {
      const r = mulberry32(s.seed + 5);
      const extra = tf.tensor2d(Int32Array.from({ length: s.kvHeads * 64 }, () => Math.floor(r() * 4)), [s.kvHeads, 64], 'int32');
      return { w, extra };
    },
    compute: ({ w, extra }, s) => {
      const index = buildClusterIndex(w.labels, s.clusters, Int32Array.from({ length: s.context }, (_, i) => 16 + i));
      const grown = appendClusters(index, extra, 4, Int32Array.from({ length: 64 }, (_, i) => 16 + s.context + i));
      disposeClusterIndex(index);
      return [grown.sortedTokens, grown.sizes, grown.offsets];
    },
    free: ({ extra }) => extra.dispose(),
  }),
  entry({
    of: cosineKMeansKernel,
    kvDtype: 'f32',
    computes: 'cosine K-means of keys [G, T, d] into K clusters from the planted directions: labels [G, T], centroids [G, K, d]',
    outputs: [{ name: 'labels', kind: 'exact' }, { name: 'centroids', kind: 'float' }],
    perBudget: false,
    // an iteration reads the keys twice (assign, sums) and writes labels; the last assignment once more
    bytes: (s) => (s.kmeansIters * 2 + 1) * s.kvHeads * s.context * s.headDim * F32 + (s.kmeansIters + 1) * s.kvHeads * s.context * I32,
    make: (w) => w,
    compute: (w, s) => {
      // started at the planted directions, so that no cluster is split through its middle (keys on such a
      // split are near-ties that float32 summation order decides); the seeded draw of initial keys is the
      // same code on both paths (kmeans.ts) and is checked in test/gpu/wgsl/kernels.test.ts
      const r = cosineKMeans(w.keys, s.clusters, { iters: s.kmeansIters, seed: s.seed, init: w.centroids });
      return [r.labels, r.centroids];
    },
  }),
  halfEntry({
    of: denseAttentionKernel,
    computes: 'dense-attention with K and V stored as f16 [G, T, d] (f32 sums and softmax)',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: false,
    bytes: (s) => 2 * s.kvHeads * s.context * s.headDim * F16 + 2 * s.heads * s.headDim * F32,
    make: (h) => h,
    compute: (h) => [denseAttention(h.w.q, h.keys, h.values)],
    fp32: { run: (h) => [denseAttention(h.w.q, h.w.keys, h.w.values)], bounds: async (h) => [await kvBound(h)] },
  }),
  halfEntry({
    of: sparseAttentionKernel,
    computes: 'sparse-attention with K and V stored as f16, rows read through positions [H, n]',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: true,
    bytes: (s) => s.heads * taken(s) * I32 + 2 * s.heads * taken(s) * s.headDim * F16 + 2 * s.heads * s.headDim * F32,
    make: (h, s) => ({ h, tokens: withKernelPath('ops', () => selectTokens(h.w.q, h.w.centroids, h.w.index, s.budget)) }),
    compute: ({ h, tokens }) => [sparseAttention(h.w.q, h.keys, h.values, tokens)],
    fp32: { run: ({ h, tokens }) => [sparseAttention(h.w.q, h.w.keys, h.w.values, tokens)], bounds: async ({ h }) => [await kvBound(h)] },
    free: ({ tokens }) => tokens.dispose(),
  }),
  halfEntry({
    of: selectTokensKernel,
    computes: 'select-tokens with the centroids stored as f16 [G, K, d]',
    outputs: [{ name: 'tokens', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => s.kvHeads * s.clusters * s.headDim * F16 + s.heads * s.headDim * F32 + 2 * s.kvHeads * s.clusters * I32 + 2 * s.heads * taken(s) * I32,
    make: (h) => h,
    compute: (h, s) => [selectTokens(h.w.q, h.centroids, h.w.index, s.budget)],
  }),
  halfEntry({
    of: selectClustersKernel,
    computes: 'select-clusters with the centroids stored as f16: tokens [H, n], ranked, taken and ranked sizes [H, K]',
    outputs: [{ name: 'tokens', kind: 'exact' }, { name: 'ranked', kind: 'exact' }, { name: 'taken', kind: 'exact' }, { name: 'rankedSizes', kind: 'exact' }],
    perBudget: true,
    bytes: (s) => s.kvHeads * s.clusters * s.headDim * F16 + s.heads * s.headDim * F32 + 2 * s.kvHeads * s.clusters * I32 + 2 * s.heads * taken(s) * I32 + 3 * s.heads * s.clusters * I32,
    make: (h) => h,
    compute: (h, s) => {
      const sel = selectClusters(h.w.q, h.centroids, h.w.index, s.budget);
      return [sel.tokens, sel.ranked, sel.taken, sel.rankedSizes];
    },
  }),
  halfEntry({
    of: selectAndAttendKernel,
    computes: 'clusterkv-step with K, V and centroids stored as f16 (WGSL: three dispatches, one submit)',
    outputs: [{ name: 'out', kind: 'float' }],
    perBudget: true,
    bytes: (s) => s.kvHeads * s.clusters * s.headDim * F16 + s.heads * s.headDim * F32 + 2 * s.kvHeads * s.clusters * I32 + s.heads * taken(s) * I32 + 2 * s.heads * taken(s) * s.headDim * F16 + 2 * s.heads * s.headDim * F32,
    make: (h) => h,
    compute: (h, s) => [selectAndAttend(h.w.q, h.centroids, h.w.index, s.budget, h.keys, h.values)],
    // the same selection (the rounded centroids), fp32 K and V
    fp32: { run: (h, s) => [selectAndAttend(h.w.q, h.centroidsF, h.w.index, s.budget, h.w.keys, h.w.values)], bounds: async (h) => [await kvBound(h)] },
  }),
  halfEntry({
    of: cosineKMeansKernel,
    computes: 'kmeans of keys stored as f16 [G, T, d] (f32 products, sums and centroids)',
    outputs: [{ name: 'labels', kind: 'exact' }, { name: 'centroids', kind: 'float' }],
    perBudget: false,
    bytes: (s) => (s.kmeansIters * 2 + 1) * s.kvHeads * s.context * s.headDim * F16 + (s.kmeansIters + 1) * s.kvHeads * s.context * I32,
    make: (h) => h,
    compute: (h, s) => {
      const r = cosineKMeans(h.keys, s.clusters, { iters: s.kmeansIters, seed: s.seed, init: h.w.centroids });
      return [r.labels, r.centroids];
    },
    // with the same labels, the centroids differ by a mean of the keys' rounding errors
    fp32: {
      run: (h, s) => {
        const r = cosineKMeans(h.w.keys, s.clusters, { iters: s.kmeansIters, seed: s.seed, init: h.w.centroids });
        return [r.labels, r.centroids];
      },
      bounds: async (h) => [0, await meanFp16Bound(h.w.keys, h.keysF)],
    },
  }),
];

/** Entries whose K/V storage is one of `dtypes`, with every entry that takes no K/V. */
export function kernelsFor(dtypes: readonly KvDtype[]): KernelEntry[] {
  return KERNELS.filter((k) => k.kvDtype === undefined || dtypes.includes(k.kvDtype));
}


/** The paths of `entry` that run on the active backend ('wgsl' needs webgpu). */
export function availablePaths(e: KernelEntry): KernelPath[] {
  return e.paths.filter(pathAvailable);
}

export function kernelEntry(name: string): KernelEntry {
  const found = KERNELS.find((k) => k.name === name);
  if (!found) throw new RangeError(`unknown kernel '${name}': expected one of ${KERNELS.map((k) => k.name).join(', ')}`);
  return found;
}
