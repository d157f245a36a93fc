/**
 * One process of the tune suite (`bench/run.ts once tune`): times the WGSL kernels' tuning variants on the
 * webgpu backend. Knobs (src/gpu/wgsl/*: selectTuning, attentionTuning, kmeansTuning, each variant set with
 * withTuning from src/gpu/wgsl/runtime/tuning.ts): dense and sparse
 * attention chunk lengths, the select kernel's workgroup size (K = 400 and K = 1639, the 128K sweep's C0), and
 * the K-means assignment tiles and segment-sum parts. Median kernel times (wall times where the adapter has no
 * timestamps). The chosen defaults and the numbers behind them are in bench/README.md.
 * Sets: attention (decode attention's knobs only, at 8K, 32K and 128K: the set run in fresh processes and
 * merged), core (the defaults only, e.g. to compare a Dawn toggle), kernels (every knob), subgroup (the
 * subgroup and f16 kernels of issue 19: subgroupAttentionTuning, thresholdSelectTuning and kmeansTuning's
 * sorted update and subgroup merge, one knob changed at a time, against the older kernels, each variant's
 * output checked against the op chain at the timed shape), prefetch (loads in flight only: the subgroup
 * attention's tiles in flight 2 and 3, 8 rows per tile, and the threshold select's score passes and output
 * slots in flight 1, 2 and 8, against the defaults and the older kernels, checked the same way: short enough
 * for the end of a device call), reduction (the subgroup attention's scores by butterfly or transposed
 * reduction, with rows, tiles and vectors per lane around the transposed one, checked the same way; both
 * reductions at 128K). heatMs heats the GPU before every 10 samples;
 * small shrinks every shape (software adapter; the subgroup sets need subgroups, or their emulation:
 * CLUSTERKV_SUBGROUP_EMULATION=32).
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../../src/gpu/backend.js';
import { kernelEntry, type KernelShape } from '../../src/gpu/kernel-list.js';
import { attentionTuning } from '../../src/gpu/wgsl/attention/decode-attention.js';
import { subgroupAttentionTuning } from '../../src/gpu/wgsl/attention/subgroup-attention.js';
import { kmeansTuning } from '../../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { subgroupMode, subgroupTuning } from '../../src/gpu/wgsl/runtime/capabilities.js';
import { gpuIdle } from '../../src/gpu/wgsl/runtime/runtime.js';
import { withTuning } from '../../src/gpu/wgsl/runtime/tuning.js';
import { selectTuning } from '../../src/gpu/wgsl/select/select-clusters.js';
import { thresholdSelectTuning } from '../../src/gpu/wgsl/select/select-threshold.js';
import { worstRelative } from '../../src/sim/parity.js';
import { CLUSTERKV_DEFAULTS } from '../../src/sim/methods/clusterkv/plan.js';
import { gpuHeater, timeRuns } from '../../src/sim/bench/kernel-bench.js';
import { timingMs } from '../../src/sim/bench/timing.js';
import type { TuneFile } from '../../src/sim/bench/tune-file.js';

export const TUNE_SETS = ['attention', 'core', 'kernels', 'subgroup', 'prefetch', 'reduction'] as const;
export type TuneSet = (typeof TUNE_SETS)[number];

// decode attention's defaults against one change at a time, and against the defaults before the tuning
const ATTENTION_VARIANTS: { name: string; tuning: Partial<typeof attentionTuning>; kernels: string[] }[] = [
  { name: 'defaults', tuning: {}, kernels: ['dense-attention', 'sparse-attention', 'clusterkv-step'] },
  { name: 'dense loads shared by the group', tuning: { denseLoads: 'shared' }, kernels: ['dense-attention'] },
  { name: '4 value rows in flight', tuning: { valueLoads: 4 }, kernels: ['dense-attention', 'sparse-attention'] },
  { name: 'chunk rule for 512 workgroups', tuning: { workgroups: 512 }, kernels: ['sparse-attention', 'clusterkv-step'] },
  { name: 'before the tuning (shared loads, 4 rows, 512 workgroups)', tuning: { denseLoads: 'shared', valueLoads: 4, workgroups: 512 }, kernels: ['dense-attention', 'clusterkv-step'] },
];

/** A variant of the subgroup sets: knobs set with withTuning while `under` runs f, and the kernels it times. */
interface SubgroupVariant {
  name: string;
  under: <R>(f: () => Promise<R>) => Promise<R>;
  kernels: string[];
}

const asIs = <R>(f: () => Promise<R>) => f();
const OLDER = 'older kernels (no subgroups)';

/** Loads in flight of the subgroup attention and the threshold select (prefetch set; the attention's also in the subgroup set). */
const PREFETCH_VARIANTS: SubgroupVariant[] = [
  { name: 'defaults', under: asIs, kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16', 'clusterkv-step-f16'] },
  { name: OLDER, under: (f) => withTuning(subgroupTuning, { enabled: false }, f), kernels: ['dense-attention', 'dense-attention-f16', 'clusterkv-step-f16'] },
  ...[1, 2, 3].map((n) => ({ name: `attention tiles in flight ${n}`, under: <R>(f: () => Promise<R>) => withTuning(subgroupAttentionTuning, { tilesInFlight: n }, f), kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16', 'clusterkv-step-f16'] })),
  { name: 'attention rows 8', under: (f) => withTuning(subgroupAttentionTuning, { denseRows: 8, sparseRows: 8 }, f), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
  { name: 'attention rows 8, tiles in flight 2', under: (f) => withTuning(subgroupAttentionTuning, { denseRows: 8, sparseRows: 8, tilesInFlight: 2 }, f), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
  // the threshold select's loads: 1 and 1 is its form before they were issued together
  ...[1, 2, 8].map((n) => ({ name: `select loads in flight ${n}`, under: <R>(f: () => Promise<R>) => withTuning(thresholdSelectTuning, { passesInFlight: n, slotsInFlight: n }, f), kernels: ['select-tokens-f16', 'clusterkv-step-f16'] })),
];

const transposed = (more: Partial<typeof subgroupAttentionTuning> = {}) => <R>(f: () => Promise<R>) => withTuning(subgroupAttentionTuning, { scoreReduction: 'transposed', ...more }, f);

/** How the subgroup attention's scores meet: the butterfly (default) against the transposed reduction with its neighbours (reduction set). */
const REDUCTION_VARIANTS: SubgroupVariant[] = [
  { name: 'defaults', under: asIs, kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16', 'clusterkv-step-f16'] },
  { name: 'transposed', under: transposed(), kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16', 'clusterkv-step-f16'] },
  { name: 'transposed, tiles in flight 2', under: transposed({ tilesInFlight: 2 }), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
  { name: 'transposed, rows 8', under: transposed({ denseRows: 8, sparseRows: 8 }), kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16'] },
  { name: 'transposed, rows 2', under: transposed({ denseRows: 2, sparseRows: 2 }), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
  { name: 'transposed, 2 vectors per lane', under: transposed({ vectorsPerLane: 2 }), kernels: ['dense-attention', 'dense-attention-f16'] },
];

/** The subgroup / f16 kernels' knobs one at a time, and the older kernels (subgroup set). */
const SUBGROUP_VARIANTS: SubgroupVariant[] = [
  { name: 'defaults', under: asIs, kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention', 'sparse-attention-f16', 'select-tokens', 'select-tokens-f16', 'clusterkv-step', 'clusterkv-step-f16'] },
  { name: OLDER, under: (f) => withTuning(subgroupTuning, { enabled: false }, f), kernels: ['dense-attention', 'sparse-attention', 'select-tokens', 'clusterkv-step', 'dense-attention-f16', 'clusterkv-step-f16'] },
  ...[2, 8].map((n) => ({ name: `attention rows ${n}`, under: <R>(f: () => Promise<R>) => withTuning(subgroupAttentionTuning, { denseRows: n, sparseRows: n }, f), kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16'] })),
  ...PREFETCH_VARIANTS.filter((v) => v.name.includes('tiles in flight')),
  ...[1, 2, 8].map((n) => ({ name: `attention subgroups ${n}`, under: <R>(f: () => Promise<R>) => withTuning(subgroupAttentionTuning, { subgroups: n }, f), kernels: ['dense-attention-f16', 'sparse-attention-f16'] })),
  ...[256, 1024, 2048].map((n) => ({ name: `attention workgroups ${n}`, under: <R>(f: () => Promise<R>) => withTuning(subgroupAttentionTuning, { workgroups: n }, f), kernels: ['dense-attention-f16', 'sparse-attention-f16'] })),
  { name: 'attention 2 vectors per lane', under: (f) => withTuning(subgroupAttentionTuning, { vectorsPerLane: 2 }, f), kernels: ['dense-attention', 'dense-attention-f16'] },
  { name: 'attention f16 decode through enable f16', under: (f) => withTuning(subgroupAttentionTuning, { f16Decode: 'f16' }, f), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
  ...[4, 16].map((n) => ({ name: `select subgroups ${n}`, under: <R>(f: () => Promise<R>) => withTuning(thresholdSelectTuning, { subgroups: n }, f), kernels: ['select-tokens-f16'] })),
  ...[64, 512].map((n) => ({ name: `select bins ${n}`, under: <R>(f: () => Promise<R>) => withTuning(thresholdSelectTuning, { bins: n }, f), kernels: ['select-tokens-f16'] })),
  ...[1, 2].map((n) => ({ name: `select ${n} vectors per lane`, under: <R>(f: () => Promise<R>) => withTuning(thresholdSelectTuning, { vectorsPerLane: n }, f), kernels: ['select-tokens-f16'] })),
];

/** K-means of the subgroup set: the per-part update (default) against the sorted update, the subgroup merge, tiles. */
const KMEANS_VARIANTS: SubgroupVariant[] = [
  { name: 'defaults', under: asIs, kernels: ['kmeans', 'kmeans-f16'] },
  { name: 'sorted update', under: (f) => withTuning(kmeansTuning, { sums: 'sorted' }, f), kernels: ['kmeans', 'kmeans-f16'] },
  { name: 'subgroup merge', under: (f) => withTuning(kmeansTuning, { subgroupMerge: true }, f), kernels: ['kmeans-f16'] },
  { name: 'sorted update, block 4096', under: (f) => withTuning(kmeansTuning, { sums: 'sorted', block: 4096 }, f), kernels: ['kmeans-f16'] },
  { name: 'tiles 8x4x8', under: (f) => withTuning(kmeansTuning, { tileCols: 4 }, f), kernels: ['kmeans-f16'] },
  { name: 'tiles 8x8x16', under: (f) => withTuning(kmeansTuning, { depth: 16 }, f), kernels: ['kmeans-f16'] },
];

export async function tuneKernelsOnce(set: TuneSet, heatMs: number, small: boolean, log: (line: string) => void): Promise<TuneFile> {
  await useBackend('webgpu');
  const base: KernelShape = small ? { heads: 8, kvHeads: 2, headDim: 64, context: 2048, clusters: 40, budget: 256, kmeansIters: 2, seed: 0, keyNoise: 1 } : { heads: 32, kvHeads: 8, headDim: 128, context: 32768, clusters: 400, budget: 2048, kmeansIters: 20, seed: 0, keyNoise: 1 };
  const rows: TuneFile['rows'] = [];
  const toggles = process.env.CLUSTERKV_DAWN_TOGGLES ?? '';
  // heat the GPU before every 10 samples (the H200's clock falls when it idles: bench/README.md)
  const heater = heatMs > 0 ? gpuHeater() : undefined;
  const heat = heater ? { heat: () => heater.heat(heatMs) } : {};

  async function time(kernel: string, shape: KernelShape, knob: string, value: string | number, runs = 30): Promise<void> {
    const entry = kernelEntry(kernel);
    const prepared = entry.setup(shape);
    const kmeans = kernel.startsWith('kmeans');
    const t = await timeRuns(() => prepared.run('wgsl'), kmeans ? 1 : 5, runs, entry.bytes(shape), kmeans ? { burst: 0, ...heat } : heat);
    prepared.dispose();
    const row = { kernel, context: shape.context, clusters: shape.clusters, knob, value, ms: timingMs(t), wallMs: t.wallMs.median, GBps: t.achievedGBps, kernelTimed: t.kernelMs !== undefined };
    rows.push(row);
    log(JSON.stringify(row));
  }

  /** Per output, |wgsl - ops| / (1 + |ops|) at worst (exact outputs: the count of mismatches) at `shape`. */
  async function againstOps(kernel: string, shape: KernelShape): Promise<number[]> {
    const entry = kernelEntry(kernel);
    const prepared = entry.setup(shape);
    const [wgsl, ops] = [prepared.run('wgsl'), prepared.run('ops')];
    const worst: number[] = [];
    for (const [i, t] of wgsl.entries()) {
      const [x, y] = [await t.data(), await ops[i].data()];
      worst.push(x.length !== y.length ? Infinity : entry.outputs[i].kind === 'exact' ? y.filter((v, j) => x[j] !== v).length : worstRelative(x, y));
    }
    tf.dispose([...wgsl, ...ops]);
    prepared.dispose();
    return worst;
  }

  const saved = { ...attentionTuning, ...selectTuning, ...kmeansTuning };
  try {
    if (set === 'attention') {
      for (const context of small ? [base.context] : [8192, 32768, 131072]) {
        const shape = { ...base, context, clusters: Math.ceil(context / CLUSTERKV_DEFAULTS.tokensPerCluster) };
        for (const variant of ATTENTION_VARIANTS) {
          await withTuning(attentionTuning, variant.tuning, async () => {
            for (const kernel of variant.kernels) await time(kernel, shape, 'attention', variant.name, 20);
          });
        }
      }
      return { kind: 'clusterkv-kernel-tuning', set, heatMs, toggles, rows };
    }
    if (set === 'subgroup' || set === 'prefetch' || set === 'reduction') {
      const mode = subgroupMode();
      if (!mode) throw new Error(`tune --set ${set}: the device has no subgroups of a fixed size (doctor shows its features; CLUSTERKV_SUBGROUP_EMULATION=32 emulates them for a dry run)`);
      log(JSON.stringify({ subgroups: mode }));
      const variants = set === 'prefetch' ? PREFETCH_VARIANTS : set === 'reduction' ? REDUCTION_VARIANTS : SUBGROUP_VARIANTS;
      // each variant timed, then (not for the older kernels) its outputs checked against the op chain
      const timeAndCheck = async (v: SubgroupVariant, shape: KernelShape, runs: number) => {
        for (const kernel of v.kernels) {
          await time(kernel, shape, 'subgroup', v.name, runs);
          if (v.name === OLDER) continue;
          const worst = await againstOps(kernel, shape);
          rows.push({ kernel, context: shape.context, knob: 'check', value: v.name, worst });
          log(JSON.stringify({ kernel, variant: v.name, worstVsOps: worst }));
        }
      };
      for (const v of variants) await v.under(() => timeAndCheck(v, base, 20));
      if (set === 'subgroup') {
        // the defaults' context scaling, then K-means
        for (const context of small ? [] : [8192, 131072]) {
          const shape = { ...base, context, clusters: Math.ceil(context / CLUSTERKV_DEFAULTS.tokensPerCluster) };
          for (const kernel of ['dense-attention', 'dense-attention-f16', 'clusterkv-step', 'clusterkv-step-f16']) await time(kernel, shape, 'subgroup', `defaults at ${context}`, 20);
        }
        for (const v of KMEANS_VARIANTS) await v.under(() => timeAndCheck(v, base, 3));
      }
      if (set === 'reduction') {
        // the two reductions where dense attention is longest and the fixed costs weigh least
        for (const context of small ? [] : [131072]) {
          const shape = { ...base, context, clusters: Math.ceil(context / CLUSTERKV_DEFAULTS.tokensPerCluster) };
          for (const v of REDUCTION_VARIANTS.slice(0, 2)) await v.under(async () => { for (const kernel of ['dense-attention-f16', 'clusterkv-step-f16']) await time(kernel, shape, 'subgroup', `${v.name} at ${context}`, 20); });
        }
      }
      return { kind: 'clusterkv-kernel-tuning', set, heatMs, toggles, rows };
    }
    // set core: the defaults only (e.g. to compare a Dawn toggle)
    const core = set === 'core';
    const values = <T>(all: T[], current: T): T[] => (core ? [current] : all);
    // chunk lengths as given (workgroups = 1: no shortening), then the default rule
    await withTuning(attentionTuning, { workgroups: 1 }, async () => {
      for (const denseChunk of values([64, 128, 256], saved.denseChunk)) await withTuning(attentionTuning, { denseChunk }, () => time('dense-attention', base, 'denseChunk', denseChunk));
      for (const sparseChunk of values([16, 32, 64, 128], saved.sparseChunk)) await withTuning(attentionTuning, { sparseChunk }, () => time('sparse-attention', base, 'sparseChunk', sparseChunk));
    });
    await time('dense-attention', base, 'chunkRule', `workgroups ${saved.workgroups}`);
    await time('sparse-attention', base, 'chunkRule', `workgroups ${saved.workgroups}`);
    for (const clusters of values([400, 1639], 400)) {
      for (const workgroup of values([256, 512, 1024], saved.workgroup)) {
        await withTuning(selectTuning, { workgroup }, () => time('select-tokens', small ? base : { ...base, clusters, context: clusters === 400 ? base.context : 131072 }, 'selectWorkgroup', workgroup));
      }
    }
    await time('clusterkv-step', base, 'defaults', 'all');
    for (const [tileRows, tileCols, depth] of values([[8, 4, 16], [8, 8, 16], [8, 4, 8], [8, 8, 8]], [saved.tileRows, saved.tileCols, saved.depth])) {
      await withTuning(kmeansTuning, { tileRows, tileCols, depth }, () => time('kmeans', base, 'kmeansTile', `${tileRows}x${tileCols}x${depth}`, 3));
    }
    for (const parts of values([4, 16, 64], saved.parts)) await withTuning(kmeansTuning, { parts }, () => time('kmeans', base, 'kmeansParts', parts, 3));
    // K-means stages alone at the default tiles: 0 iterations is one normalisation and one assignment
    await time('kmeans', { ...base, kmeansIters: 0 }, 'kmeansIters', 0, 10);
    await time('kmeans', { ...base, kmeansIters: 1 }, 'kmeansIters', 1, 10);
    // host time of one WGSL decode step: encoding and submitting, the GPU running behind
    {
      const prepared = kernelEntry('clusterkv-step').setup(base);
      for (let i = 0; i < 20; i++) tf.dispose(prepared.run('wgsl'));
      await gpuIdle();
      const n = 200;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) tf.dispose(prepared.run('wgsl'));
      const hostMs = (performance.now() - t0) / n;
      await gpuIdle();
      const t1 = performance.now();
      for (let i = 0; i < 50; i++) await gpuIdle();
      const idleMs = (performance.now() - t1) / 50;
      prepared.dispose();
      const row = { kernel: 'clusterkv-step', knob: 'hostEncodeMs', value: hostMs, emptyFenceMs: idleMs };
      rows.push(row);
      log(JSON.stringify(row));
    }
    return { kind: 'clusterkv-kernel-tuning', set, heatMs, toggles, rows };
  } finally {
    heater?.dispose();
  }
}
