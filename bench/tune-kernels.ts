/**
 * Times the WGSL kernels' tuning variants at DESIGN.md's shape on the webgpu backend, one process:
 *   tsx bench/tune-kernels.ts [OUT.json]
 * Knobs (src/gpu/wgsl/*: selectTuning, attentionTuning, kmeansTuning): dense and sparse attention chunk
 * lengths, the select kernel's workgroup size (K = 400 and K = 1639, the 128K sweep's C0), and the K-means
 * assignment tiles and segment-sum parts. Prints and writes median kernel times (wall times where the
 * adapter has no timestamps). The chosen defaults and the numbers behind them are in bench/README.md.
 * Env: TUNE_SET=attention (decode attention's knobs only, at 8K, 32K and 128K), subgroup (the subgroup and
 * f16 kernels of issue 19: their knobs, against the older kernels, each variant's output checked against the
 * op chain at the timed shape) or core (the defaults only);
 * TUNE_HEAT_MS=N heats the GPU before every 10 samples; TUNE_SMALL=1 shrinks every shape (software adapter).
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/gpu/backend.js';
import { kernelEntry, type KernelShape } from '../src/gpu/kernel-list.js';
import { attentionTuning } from '../src/gpu/wgsl/attention/decode-attention.js';
import { subgroupAttentionTuning } from '../src/gpu/wgsl/attention/subgroup-attention.js';
import { setSubgroupsEnabled, subgroupMode } from '../src/gpu/wgsl/runtime/capabilities.js';
import { thresholdSelectTuning } from '../src/gpu/wgsl/select/select-threshold.js';
import { gpuAdapterInfo } from '../src/gpu/backend.js';
import { kmeansTuning } from '../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { gpuIdle } from '../src/gpu/wgsl/runtime/runtime.js';
import { selectTuning } from '../src/gpu/wgsl/select/select-clusters.js';
import { gpuHeater, timeRuns } from '../src/sim/bench/kernel-bench.js';
import { timingMs } from '../src/sim/bench/timing.js';

const out = process.argv[2];
await useBackend('webgpu');
const small = process.env.TUNE_SMALL === '1';
const base: KernelShape = small ? { heads: 8, kvHeads: 2, headDim: 64, context: 2048, clusters: 40, budget: 256, kmeansIters: 2, seed: 0, keyNoise: 1 } : { heads: 32, kvHeads: 8, headDim: 128, context: 32768, clusters: 400, budget: 2048, kmeansIters: 20, seed: 0, keyNoise: 1 };
const rows: Record<string, unknown>[] = [];

// TUNE_HEAT_MS: heat the GPU before every 10 samples (the H200's clock falls when it idles: bench/README.md)
const heatMs = Number(process.env.TUNE_HEAT_MS ?? 0);
const heater = heatMs > 0 ? gpuHeater() : undefined;
const heat = heater ? { heat: () => heater.heat(heatMs) } : {};

async function time(kernel: string, shape: KernelShape, knob: string, value: unknown, runs = 30): Promise<void> {
  const entry = kernelEntry(kernel);
  const prepared = entry.setup(shape);
  const km = kernel.startsWith('kmeans');
  const t = await timeRuns(() => prepared.run('wgsl'), km ? 1 : 5, runs, entry.bytes(shape), km ? { burst: 0, ...heat } : heat);
  prepared.dispose();
  const row = { kernel, context: shape.context, clusters: shape.clusters, knob, value, ms: timingMs(t), wallMs: t.wallMs.median, GBps: t.achievedGBps, kernelTimed: t.kernelMs !== undefined };
  rows.push(row);
  console.log(JSON.stringify(row));
}

const saved = { ...attentionTuning, ...selectTuning, ...kmeansTuning };
/** The worst |wgsl - ops| / (1 + |ops|) of a kernel's outputs at `shape` (exact outputs: mismatches). */
async function check(kernel: string, shape: KernelShape): Promise<number[]> {
  const entry = kernelEntry(kernel);
  const prepared = entry.setup(shape);
  const [a, b] = [prepared.run('wgsl'), prepared.run('ops')];
  const worst: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [await a[i].data(), await b[i].data()];
    let w = 0;
    for (let j = 0; j < y.length; j++) w = entry.outputs[i].kind === 'exact' ? w + (x[j] !== y[j] ? 1 : 0) : Math.max(w, Math.abs(x[j] - y[j]) / (1 + Math.abs(y[j])));
    worst.push(x.length === y.length ? w : Infinity);
  }
  tf.dispose([...a, ...b]);
  prepared.dispose();
  return worst;
}

// TUNE_SET=subgroup: the subgroup / f16 kernels' defaults, one knob changed at a time, and the older kernels
if (process.env.TUNE_SET === 'subgroup') {
  console.log(JSON.stringify({ adapter: gpuAdapterInfo(), subgroups: subgroupMode() ?? null }));
  const attention = { ...subgroupAttentionTuning };
  const select = { ...thresholdSelectTuning };
  const kmeans = { ...kmeansTuning };
  const reset = () => {
    Object.assign(subgroupAttentionTuning, attention);
    Object.assign(thresholdSelectTuning, select);
    Object.assign(kmeansTuning, kmeans);
    setSubgroupsEnabled(true);
  };
  const kernels = ['dense-attention', 'dense-attention-f16', 'sparse-attention', 'sparse-attention-f16', 'select-tokens', 'select-tokens-f16', 'clusterkv-step', 'clusterkv-step-f16'];
  const variants: { name: string; set: () => void; kernels: string[] }[] = [
    { name: 'defaults', set: () => {}, kernels },
    { name: 'older kernels (no subgroups)', set: () => setSubgroupsEnabled(false), kernels: ['dense-attention', 'sparse-attention', 'select-tokens', 'clusterkv-step', 'dense-attention-f16', 'clusterkv-step-f16'] },
    ...[2, 8].map((n) => ({ name: `attention rows ${n}`, set: () => Object.assign(subgroupAttentionTuning, { denseRows: n, sparseRows: n }), kernels: ['dense-attention', 'dense-attention-f16', 'sparse-attention-f16'] })),
    ...[1, 2, 8].map((n) => ({ name: `attention subgroups ${n}`, set: () => (subgroupAttentionTuning.subgroups = n), kernels: ['dense-attention-f16', 'sparse-attention-f16'] })),
    ...[256, 1024, 2048].map((n) => ({ name: `attention workgroups ${n}`, set: () => (subgroupAttentionTuning.workgroups = n), kernels: ['dense-attention-f16', 'sparse-attention-f16'] })),
    { name: 'attention 2 vectors per lane', set: () => (subgroupAttentionTuning.vectorsPerLane = 2), kernels: ['dense-attention', 'dense-attention-f16'] },
    { name: 'attention f16 decode through enable f16', set: () => (subgroupAttentionTuning.f16Decode = 'f16'), kernels: ['dense-attention-f16', 'sparse-attention-f16'] },
    ...[4, 16].map((n) => ({ name: `select subgroups ${n}`, set: () => (thresholdSelectTuning.subgroups = n), kernels: ['select-tokens-f16'] })),
    ...[64, 512].map((n) => ({ name: `select bins ${n}`, set: () => (thresholdSelectTuning.bins = n), kernels: ['select-tokens-f16'] })),
    ...[1, 2].map((n) => ({ name: `select ${n} vectors per lane`, set: () => (thresholdSelectTuning.vectorsPerLane = n), kernels: ['select-tokens-f16'] })),
  ];
  const contexts = small ? [base.context] : [32768];
  for (const context of contexts) {
    const shape = { ...base, context, clusters: context === 32768 ? base.clusters : Math.ceil(context / 80) };
    for (const v of variants) {
      reset();
      v.set();
      for (const kernel of v.kernels) {
        await time(kernel, shape, 'subgroup', v.name, 20);
        if (v.name !== 'older kernels (no subgroups)') {
          const worst = await check(kernel, shape);
          rows.push({ kernel, context, knob: 'check', value: v.name, worst });
          console.log(JSON.stringify({ kernel, variant: v.name, worstVsOps: worst }));
        }
      }
    }
  }
  // context scaling of the defaults, and K-means: sums, merge, tiles
  reset();
  for (const context of small ? [] : [8192, 131072]) {
    const shape = { ...base, context, clusters: Math.ceil(context / 80) };
    for (const kernel of ['dense-attention', 'dense-attention-f16', 'clusterkv-step', 'clusterkv-step-f16']) await time(kernel, shape, 'subgroup', `defaults at ${context}`, 20);
  }
  const kmVariants: { name: string; set: () => void; kernels: string[] }[] = [
    { name: 'defaults', set: () => {}, kernels: ['kmeans', 'kmeans-f16'] },
    { name: 'per-part sums (older)', set: () => (kmeansTuning.sums = 'parts'), kernels: ['kmeans'] },
    { name: 'workgroup-memory merge', set: () => (kmeansTuning.subgroupMerge = false), kernels: ['kmeans-f16'] },
    { name: 'tiles 8x4x8', set: () => Object.assign(kmeansTuning, { tileCols: 4 }), kernels: ['kmeans-f16'] },
    { name: 'tiles 8x8x16', set: () => Object.assign(kmeansTuning, { depth: 16 }), kernels: ['kmeans-f16'] },
    { name: 'block 4096', set: () => (kmeansTuning.block = 4096), kernels: ['kmeans-f16'] },
  ];
  for (const v of kmVariants) {
    reset();
    v.set();
    for (const kernel of v.kernels) {
      await time(kernel, base, 'subgroup', v.name, 3);
      if (v.name === 'defaults') {
        const worst = await check(kernel, base);
        console.log(JSON.stringify({ kernel, variant: v.name, worstVsOps: worst }));
        rows.push({ kernel, knob: 'check', value: v.name, worst });
      }
    }
  }
  await time('kmeans', { ...base, kmeansIters: 0 }, 'subgroup', 'iters 0 (one assignment)', 5);
  await time('kmeans', { ...base, kmeansIters: 1 }, 'subgroup', 'iters 1', 5);
  reset();
  heater?.dispose();
  if (out) writeFileSync(out, JSON.stringify({ kind: 'clusterkv-kernel-tuning', set: 'subgroup', heatMs, rows }, null, 2));
  process.exit(0);
}

// TUNE_SET=attention: decode attention's defaults against one change at a time, and against the defaults
// before the tuning, at 8K, 32K and 128K; nothing else (bench/gpu-host-run.sh runs it in fresh processes,
// bench/merge-tune-runs.ts merges them)
const ATTENTION_VARIANTS: { name: string; tuning: Partial<typeof attentionTuning>; kernels: string[] }[] = [
  { name: 'defaults', tuning: {}, kernels: ['dense-attention', 'sparse-attention', 'clusterkv-step'] },
  { name: 'dense loads shared by the group', tuning: { denseLoads: 'shared' }, kernels: ['dense-attention'] },
  { name: '4 value rows in flight', tuning: { valueLoads: 4 }, kernels: ['dense-attention', 'sparse-attention'] },
  { name: 'chunk rule for 512 workgroups', tuning: { workgroups: 512 }, kernels: ['sparse-attention', 'clusterkv-step'] },
  { name: 'before the tuning (shared loads, 4 rows, 512 workgroups)', tuning: { denseLoads: 'shared', valueLoads: 4, workgroups: 512 }, kernels: ['dense-attention', 'clusterkv-step'] },
];
if (process.env.TUNE_SET === 'attention') {
  const savedAttention = { ...attentionTuning };
  for (const context of small ? [base.context] : [8192, 32768, 131072]) {
    const shape = { ...base, context, clusters: Math.ceil(context / 80) };
    for (const variant of ATTENTION_VARIANTS) {
      Object.assign(attentionTuning, savedAttention, variant.tuning);
      for (const kernel of variant.kernels) await time(kernel, shape, 'attention', variant.name, 20);
    }
  }
  Object.assign(attentionTuning, savedAttention);
  heater?.dispose();
  if (out) writeFileSync(out, JSON.stringify({ kind: 'clusterkv-kernel-tuning', set: 'attention', heatMs, toggles: process.env.CLUSTERKV_DAWN_TOGGLES ?? '', rows }, null, 2));
  process.exit(0);
}
// TUNE_SET=core: the defaults only (e.g. to compare a Dawn toggle)
const core = process.env.TUNE_SET === 'core';
const values = <T>(all: T[], current: T): T[] => (core ? [current] : all);
// chunk lengths as given (workgroups = 1: no shortening), then the default rule
attentionTuning.workgroups = 1;
for (const denseChunk of values([64, 128, 256], saved.denseChunk)) {
  attentionTuning.denseChunk = denseChunk;
  await time('dense-attention', base, 'denseChunk', denseChunk);
}
attentionTuning.denseChunk = saved.denseChunk;
for (const sparseChunk of values([16, 32, 64, 128], saved.sparseChunk)) {
  attentionTuning.sparseChunk = sparseChunk;
  await time('sparse-attention', base, 'sparseChunk', sparseChunk);
}
attentionTuning.sparseChunk = saved.sparseChunk;
attentionTuning.workgroups = saved.workgroups;
await time('dense-attention', base, 'chunkRule', `workgroups ${saved.workgroups}`);
await time('sparse-attention', base, 'chunkRule', `workgroups ${saved.workgroups}`);
for (const clusters of values([400, 1639], 400)) {
  for (const workgroup of values([256, 512, 1024], saved.workgroup)) {
    selectTuning.workgroup = workgroup;
    await time('select-tokens', small ? base : { ...base, clusters, context: clusters === 400 ? base.context : 131072 }, 'selectWorkgroup', workgroup);
  }
}
selectTuning.workgroup = saved.workgroup;
await time('clusterkv-step', base, 'defaults', 'all');
for (const [tileRows, tileCols, depth] of values([[8, 4, 16], [8, 8, 16], [8, 4, 8], [8, 8, 8]], [saved.tileRows, saved.tileCols, saved.depth])) {
  Object.assign(kmeansTuning, { tileRows, tileCols, depth });
  await time('kmeans', base, 'kmeansTile', `${tileRows}x${tileCols}x${depth}`, 3);
}
Object.assign(kmeansTuning, { tileRows: saved.tileRows, tileCols: saved.tileCols, depth: saved.depth });
for (const parts of values([4, 16, 64], saved.parts)) {
  kmeansTuning.parts = parts;
  await time('kmeans', base, 'kmeansParts', parts, 3);
}
kmeansTuning.parts = saved.parts;
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
  console.log(JSON.stringify(row));
}
heater?.dispose();
if (out) writeFileSync(out, JSON.stringify({ kind: 'clusterkv-kernel-tuning', heatMs, toggles: process.env.CLUSTERKV_DAWN_TOGGLES ?? '', rows }, null, 2));
