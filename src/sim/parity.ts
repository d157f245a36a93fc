/**
 * Backend parity: every kernel of the kernel list (src/gpu/kernel-list.ts) on every path the target backend
 * has ('ops': tfjs op chains; 'wgsl': the custom WebGPU kernels) against the op chain on the cpu reference
 * backend, at a few small seeded shapes; then the pipeline (ClusterKV's layer decoding through closing
 * windows, a replay with its metrics) on the target against cpu.
 * Tolerances: exact outputs (labels, index, selected positions, rankings) must match element by element: the
 * inputs are built far from ties except where a kernel's tie rule is the point (rank-clusters, whose scores
 * sit on a coarse grid); float outputs within FLOAT_TOLERANCE relative (|a - b| / (1 + |b|)).
 * On webgpu also every method's batched selection (what the decode engine runs) against its tfjs selector
 * on the same backend (batched-parity.ts): the token lists, exactly.
 * fp16 variants (kernel-list.ts '-f16'): as above against the op chain on the same rounded inputs, and on the
 * target each path also against the fp32 op chain on the unrounded K/V within the bound derived from the
 * data (half-error.ts) plus FLOAT_TOLERANCE: output 'kernel#shape.output vs fp32'.
 * Used by test/sim/parity.test.ts (wasm, and webgpu on the software adapter, in CI) and by `clusterkv parity` on a GPU host.
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../gpu/backend.js';
import { availablePaths, KERNELS, type KernelShape } from '../gpu/kernel-list.js';
import type { KernelPath } from '../gpu/kernel-path.js';
import type { ClusterKVLayer } from './methods/clusterkv/layer.js';
import { mulberry32 } from '../trace/random.js';
import { batchedParity, batchedParityCases } from './batched-parity.js';
import { createMethod } from './methods/index.js';
import { replayLayer } from './replay.js';
import type { TraceManifest } from '../trace/manifest.js';

/** Kernel-list float outputs: relative tolerance (issue 10: kernels match the op chain to 1e-5). */
export const FLOAT_TOLERANCE = 1e-5;
/** Pipeline float outputs (many kernels and float32 sums in sequence, as before the kernel list): 1e-4. */
export const PIPELINE_TOLERANCE = 1e-4;

export interface ParityCheck {
  /** kernel.output (kernel-list outputs carry the shape number: kernel#shape.output) or pipeline.output */
  output: string;
  /**
   * the path the target ran: 'ops', 'wgsl', 'pipeline' (whatever the public functions pick), 'batched' (a
   * method's batched selection against its tfjs selector) or 'engine' (generation through the decode engine
   * against the tfjs model path, engine-parity.ts)
   */
  path: KernelPath | 'pipeline' | 'batched' | 'engine';
  kind: 'exact' | 'float';
  length: number;
  /** exact: mismatching elements; float: worst relative difference */
  worst: number;
  /** float: the relative tolerance applied */
  tolerance?: number;
  pass: boolean;
}

export interface ParityReport {
  target: string;
  reference: string;
  /** the kernel-list shapes compared */
  shapes: KernelShape[];
  checks: ParityCheck[];
  /** kernels with no op chain to compare against (checked by their own tests) */
  notCompared: string[];
  /** tensors left allocated by one run of every kernel on the target (must be 0) */
  leakedTensors: number;
  pass: boolean;
}

/** Small shapes that reach the kernels' variants: vector and scalar rows, GQA groups of 4, 3 and 1, budgets 1, inside, past N. */
export const PARITY_SHAPES: KernelShape[] = [
  { heads: 16, kvHeads: 4, headDim: 32, context: 2000, clusters: 25, budget: 300, kmeansIters: 10, seed: 7, keyNoise: 0.2 },
  { heads: 6, kvHeads: 2, headDim: 6, context: 300, clusters: 9, budget: 1, kmeansIters: 3, seed: 8, keyNoise: 0.2 },
  { heads: 4, kvHeads: 4, headDim: 16, context: 500, clusters: 40, budget: 600, kmeansIters: 4, seed: 9, keyNoise: 0.2 },
];

function normals(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** [G, N, d] keys in k tight, well-separated directional clusters (every cluster has a member). */
function clusteredKeys(G: number, N: number, d: number, k: number, seed: number, noise: number): Float32Array {
  const r = mulberry32(seed);
  const dirs = normals(G * k * d, seed + 1);
  const eps = normals(G * N * d, seed + 2);
  const keys = new Float32Array(G * N * d);
  for (let g = 0; g < G; g++) {
    for (let n = 0; n < N; n++) {
      const c = n < k ? n : Math.floor(r() * k);
      let norm = 0;
      for (let i = 0; i < d; i++) norm += dirs[(g * k + c) * d + i] ** 2;
      const scale = (0.5 + 1.5 * r()) / Math.sqrt(norm);
      for (let i = 0; i < d; i++) keys[(g * N + n) * d + i] = scale * (dirs[(g * k + c) * d + i] + noise * eps[(g * N + n) * d + i]);
    }
  }
  return keys;
}

type Outputs = Record<string, { values: number[]; kind: 'exact' | 'float'; bound?: number }>;

/**
 * Every kernel-list entry on `paths` of the active backend at every parity shape (async reads: webgpu has no
 * sync ones in Node); with `fp32`, also the fp16 variants' fp32 op chain (key suffix '@fp32', with its bound).
 */
async function runKernelList(paths: (available: KernelPath[]) => KernelPath[], fp32 = false): Promise<Outputs> {
  const out: Outputs = {};
  const put = async (key: string, kind: 'exact' | 'float', t: tf.Tensor, bound?: number) => {
    out[key] = { values: Array.from(await t.data()), kind, ...(bound !== undefined ? { bound } : {}) };
  };
  for (const [si, shape] of PARITY_SHAPES.entries()) {
    for (const entry of KERNELS) {
      const run = paths(availablePaths(entry));
      if (run.length === 0) continue;
      const prepared = entry.setup(shape);
      for (const path of run) {
        const tensors = prepared.run(path);
        for (const [j, t] of tensors.entries()) await put(`${entry.name}#${si}.${entry.outputs[j].name}@${path}`, entry.outputs[j].kind, t);
        tf.dispose(tensors);
      }
      if (fp32 && prepared.fp32) {
        const tensors = prepared.fp32.run();
        const bounds = await prepared.fp32.bounds();
        for (const [j, t] of tensors.entries()) await put(`${entry.name}#${si}.${entry.outputs[j].name}@fp32`, entry.outputs[j].kind, t, bounds[j]);
        tf.dispose(tensors);
      }
      prepared.dispose();
    }
  }
  return out;
}

/** The pipeline on the active backend: ClusterKV's layer decoding and a replay. */
async function runPipeline(): Promise<Outputs> {
  const out: Record<string, number[]> = {};
  const put = async (name: string, t: tf.Tensor) => {
    out[name] = Array.from(await t.data());
    t.dispose();
  };
  // ClusterKV's layer through two closing windows
  const info = { layer: 2, heads: 8, kvHeads: 2, headDim: 16 };
  const [P, steps] = [300, 70];
  const T = P + steps;
  const streamKeys = clusteredKeys(2, T, 16, 8, 41, 0.2);
  const vals = normals(2 * T * 16, 42);
  const at = (x: Float32Array, from: number, n: number) => {
    const rows = new Float32Array(2 * n * 16);
    for (let g = 0; g < 2; g++) rows.set(x.subarray((g * T + from) * 16, (g * T + from + n) * 16), g * n * 16);
    return tf.tensor3d(rows, [2, n, 16]);
  };
    const attention = createMethod('clusterkv', { budget: 64, window: 32, windowClusters: 4, tokensPerCluster: 40, iters: 10, seed: 1, diagnostics: false, denseLayers: 0 }).forLayer(info) as ClusterKVLayer;
  const [k0, v0] = [at(streamKeys, 0, P), at(vals, 0, P)];
  attention.prefill(k0, v0);
  const queries = normals(steps * 8 * 16, 43);
  const decoded: number[] = [];
  for (let t = 0; t < steps; t++) {
    const [kn, vn, qt] = [at(streamKeys, P + t, 1), at(vals, P + t, 1), tf.tensor2d(queries.subarray(t * 128, (t + 1) * 128), [8, 16])];
    const o = await attention.decode(qt, kn, vn);
    decoded.push(...(await o.data()));
    tf.dispose([kn, vn, qt, o]);
  }
  out.decodeOutputs = decoded;
  await put('finalCentroids', attention.state.centroids.clone());
  await put('finalIndex', attention.state.index.sortedTokens.clone());
  attention.dispose();
  tf.dispose([k0, v0]);
  // a replay (selectors, then the metrics' scatter, top-k and masked attention) of one synthetic layer
  const [S, Hr] = [4, 8];
  const manifest = {
    format: 'clusterkv-trace', version: 1, source: { kind: 'synthetic', name: 'parity' }, keys: 'post-rope', createdBy: 'parity',
    model: { layers: 1, heads: Hr, kvHeads: 2, headDim: 16, ropeTheta: 10000 }, contextLength: T, prefillLength: T - S,
    stepPositions: Array.from({ length: S }, (_, i) => T - S + i), dtype: 'F32',
  } as TraceManifest;
  const layer = { k: streamKeys, v: vals, q: normals(S * Hr * 16, 44) };
  const methods = [createMethod('oracle', { budget: 48, denseLayers: 0 }), createMethod('clusterkv', { budget: 48, denseLayers: 0, tokensPerCluster: 24, iters: 5 })];
  const rows = (await replayLayer(manifest, 0, layer, methods, { steps: [0, 1, 2, 3], heads: Array.from({ length: Hr }, (_, h) => h) })).flat();
  for (const metric of ['massRecall', 'topkRecall', 'outputRelError', 'tokensLoaded'] as const) out[`replay.${metric}`] = rows.map((r) => r[metric]);
  const kinds: Outputs = {};
  for (const [name, values] of Object.entries(out)) kinds[name] = { values, kind: FLOAT_OUTPUTS.has(name) ? 'float' : 'exact' };
  return kinds;
}

const FLOAT_OUTPUTS = new Set(['decodeOutputs', 'finalCentroids', 'replay.massRecall', 'replay.topkRecall', 'replay.outputRelError']);

/** The worst |got - want| / (1 + |want|) over equal-length arrays: parity's float measure. */
export function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  return worst;
}

function compare(output: string, path: ParityCheck['path'], kind: 'exact' | 'float', got: number[], want: number[], fp16Bound?: number): ParityCheck {
  const tolerance = kind === 'float' ? (path === 'pipeline' ? PIPELINE_TOLERANCE : FLOAT_TOLERANCE) + (fp16Bound ?? 0) : undefined;
  if (got.length !== want.length) return { output, path, kind, length: want.length, worst: Infinity, tolerance, pass: false };
  const worst = kind === 'float' ? worstRelative(got, want) : got.filter((g, i) => g !== want[i]).length;
  return { output, path, kind, length: want.length, worst, tolerance, pass: tolerance !== undefined ? worst < tolerance : worst === 0 };
}

/** Runs every kernel on `reference` (op chains) then on `target` (every path it has; left active) and compares. */
export async function runParity(target: string, reference = 'cpu'): Promise<ParityReport> {
  await useBackend(reference);
  const wantKernels = await runKernelList((paths) => paths.filter((p) => p === 'ops'));
  const wantPipeline = await runPipeline();
  const targetName = await useBackend(target);
  const all = (paths: KernelPath[]) => paths;
  // warm-up: first-use pipelines and caches are not leaks
  await runKernelList(all);
  await runPipeline();
  const before = tf.memory().numTensors;
  const gotKernels = await runKernelList(all, true);
  const gotPipeline = await runPipeline();
  const leakedTensors = tf.memory().numTensors - before;
  const checks: ParityCheck[] = [];
  const notCompared = new Set<string>();
  for (const [key, got] of Object.entries(gotKernels)) {
    const [name, path] = key.split('@') as [string, KernelPath | 'fp32'];
    if (path === 'fp32') continue;
    const fp32 = gotKernels[`${name}@fp32`];
    if (fp32) checks.push(compare(`${name} vs fp32`, path, got.kind, got.values, fp32.values, fp32.bound));
    const want = wantKernels[`${name}@ops`];
    if (!want) {
      notCompared.add(name.split('#')[0]);
      continue;
    }
    checks.push(compare(name, path, got.kind, got.values, want.values));
  }
  for (const [name, want] of Object.entries(wantPipeline)) checks.push(compare(`pipeline.${name}`, 'pipeline', want.kind, gotPipeline[name]?.values ?? [], want.values));
  if (targetName === 'webgpu') {
    const { cases, missing } = batchedParityCases();
    for (const name of missing) notCompared.add(`batched:${name}`);
    for (const [i, c] of cases.entries()) {
      const r = await batchedParity(c);
      checks.push({ output: `batched.${c.method}#${i}.lists`, path: 'batched', kind: 'exact', length: r.lists, worst: r.mismatches, pass: r.mismatches === 0 && r.lists > 0 });
    }
  }
  return { target: targetName, reference, shapes: PARITY_SHAPES, checks, notCompared: [...notCompared], leakedTensors, pass: leakedTensors === 0 && checks.every((c) => c.pass) };
}
