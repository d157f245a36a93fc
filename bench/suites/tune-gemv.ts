/**
 * One process of the tune suite's set gemv (`bench/run.ts once gemv`): the end-to-end engine's GEMV work
 * splits on the GPU, every product of a decode step of a model shape (src/model/engine/gemv-shapes.ts: the
 * engine's own shapes, norm prologues and epilogues included) with the weights stored as the engine would
 * (f32 or f16), batch 1 and 8, each split of gemv.ts timed alone (GPU timestamps, one pass per dispatch,
 * weights rotated over copies larger than the L2 cache), against copy.ts's read ceiling in the same process.
 * Logs a table (GB/s and % of the read ceiling per shape and split) and the best split per batch (each
 * product weighted by its runs per step). Shapes are scaled down where a binding cannot hold them (a
 * software adapter: logic checks only).
 */
import { gpuAdapterInfo, useBackend } from '../../src/gpu/backend.js';
import { readWgsl } from '../../src/gpu/wgsl/ceilings/copy-read.js';
import { gemvPlan, gemvShader, gemvWorkgroups, productBuffers, readsExtra, type GemvTuning } from '../../src/gpu/wgsl/engine/gemv.js';
import { halfRead, storageBytes, type StorageDType } from '../../src/gpu/wgsl/engine/storage-dtype.js';
import { deviceLimits, gpuIdle, hasTimestamps, outputTensor, record, startKernelTimer, stopKernelTimer } from '../../src/gpu/wgsl/runtime/runtime.js';
import { FILL_GROUPS, uniformFillShader } from '../../src/gpu/wgsl/engine/seeded-fill.js';
import { bindDispatch, recordStep, storageBuffer, TimestampLog, UniformBlock } from '../../src/gpu/wgsl/runtime/step-recorder.js';
import { ENGINE_GEMVS, engineGemvShapes } from '../../src/model/engine/gemv-shapes.js';
import { engineShapeOf, LLAMA3_8B_SHAPE, type EngineShape } from '../../src/model/engine/shape.js';
import { hfConfig } from '../../src/model/hf-loader.js';
import { RANDOM_CHECKPOINT_SHAPES } from '../../src/model/random-checkpoint.js';
import { median } from '../../src/sim/quantile.js';
import { bestSplits, DEFAULT_GEMV_MODEL, type GemvTuningFile } from '../../src/sim/bench/tune-file.js';

export { DEFAULT_GEMV_MODEL };
/** Model shapes the tune takes: the e2e suite's, and every random checkpoint's (src/model/random-checkpoint.ts). */
export const GEMV_MODELS = [DEFAULT_GEMV_MODEL, ...Object.keys(RANDOM_CHECKPOINT_SHAPES)];

/** The engine's dimensions of a model shape, and whether its q/k/v projections add a bias (Qwen2). */
function modelShape(name: string): { shape: EngineShape; qkvBias: boolean } {
  if (name === DEFAULT_GEMV_MODEL) return { shape: LLAMA3_8B_SHAPE, qkvBias: false };
  const hf = RANDOM_CHECKPOINT_SHAPES[name];
  if (!hf) throw new RangeError(`--model-shape must be one of ${GEMV_MODELS.join(', ')}, got '${name}'`);
  const config = hfConfig({ ...hf }, name);
  return { shape: engineShapeOf(config), qkvBias: config.qkvBias };
}

export const DEFAULT_GEMV_SPLITS = ['64,4,2', '64,2,2', '64,2,4', '32,4,2', '128,2,2', '128,4,1', '256,2,2', '64,8,1'];
const RUNS = 12;
/** Scale the shapes down where a binding cannot hold them (a software adapter: logic checks only). */
const SMALL = () => deviceLimits().maxBinding < 1e9;

/** ms of each of RUNS runs of `run` (timestamps where the device has them, else fenced wall time). */
async function timeRuns(run: (i: number, log?: TimestampLog) => void): Promise<number[]> {
  if (!hasTimestamps()) {
    const out: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      run(i);
      await gpuIdle();
      out.push(performance.now() - t0);
    }
    return out;
  }
  const log = new TimestampLog(2 * RUNS);
  for (let i = 0; i < RUNS; i++) run(i, log);
  const stamps = await log.read();
  log.destroy();
  return log.passes.map((p) => (stamps[p.end] - stamps[p.begin]) / 1e6);
}

function fill(buffer: GPUBuffer, count: number, seed: number, dtype: StorageDType = 'f32', offset = 0): void {
  const u = new UniformBlock([count, seed, { f32: 0.01 }, { f32: offset }]);
  recordStep([bindDispatch(uniformFillShader(dtype), u, [buffer], [Math.min(FILL_GROUPS, Math.ceil(count / 256))], 'init', 'fill')]);
  u.destroy();
}

/** Times every split of `splits` (threadsPerRow, rowsPerThread, unroll) on every product of `model`'s step, weights as `weights`, at batch 1 and 8. */
export async function gemvTuningOnce(splits: GemvTuning[], log: (line: string) => void, model = DEFAULT_GEMV_MODEL, weights: StorageDType = 'f32'): Promise<GemvTuningFile> {
  const { shape: shapeOfModel, qkvBias } = modelShape(model);
  await useBackend('webgpu');
  const read = halfRead();
  log(`model shape ${model}, weights ${weights}${weights === 'f16' ? ` (read ${read})` : ''}`);
  log(`adapter ${JSON.stringify(gpuAdapterInfo())}, toggles ${process.env.CLUSTERKV_DAWN_TOGGLES ?? '(none)'}`);

  // read ceiling
  const n = SMALL() ? 2 ** 22 : 2 ** 28;
  const x = outputTensor([n], 'float32');
  record([{ code: uniformFillShader(), uniforms: [n, 9, { f32: 1 }, { f32: 0 }], buffers: [x.buffer], workgroups: [FILL_GROUPS] }]);
  for (let i = 0; i < 3; i++) readWgsl(x.tensor).dispose();
  await gpuIdle();
  let ceilingMs: number;
  if (hasTimestamps()) {
    startKernelTimer(16);
    for (let i = 0; i < 10; i++) readWgsl(x.tensor).dispose();
    ceilingMs = (await stopKernelTimer())! / 10;
  } else {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) readWgsl(x.tensor).dispose();
    await gpuIdle();
    ceilingMs = (performance.now() - t0) / 10;
  }
  const ceiling = (n * 4) / ceilingMs / 1e6;
  x.tensor.dispose();
  log(`read ceiling ${ceiling.toFixed(0)} GB/s`);

  const rows: GemvTuningFile['rows'] = [];
  const storage = deviceLimits().workgroupStorage;
  for (const batch of [1, 8]) {
    const products = engineGemvShapes(shapeOfModel, batch, qkvBias);
    for (const name of ENGINE_GEMVS) {
      const full = products[name];
      const s = SMALL() ? { ...full, rows: full.rows / 16 } : full;
      const bytes = storageBytes(s.rows * s.cols, weights);
      const copies = SMALL() ? 2 : Math.max(2, Math.ceil(400e6 / bytes) + 1);
      const W = Array.from({ length: copies }, (_, i) => storageBuffer(bytes, `${name}.${i}`));
      W.forEach((w, i) => fill(w, s.rows * s.cols, i + 1, weights));
      const xin = storageBuffer(batch * s.cols * 4);
      fill(xin, batch * s.cols, 77);
      const gain = storageBuffer(s.cols * 4);
      fill(gain, s.cols, 79, 'f32', 1);
      // the residual [B, rows], or the bias [rows] (its first row)
      const res = storageBuffer(batch * s.rows * 4);
      fill(res, batch * s.rows, 78);
      const y = storageBuffer(batch * s.rows * 4);
      const u = new UniformBlock([s.rows, { f32: shapeOfModel.normEps }]);
      const extra = readsExtra(s.epilogue) ? res : undefined;
      const buffers = (w: GPUBuffer) => productBuffers(s, { weights: w, input: xin, gain: s.norm ? gain : undefined, extra, output: y }, `tune ${name}`);
      for (const split of splits) {
        const shape = { rows: s.rows, cols: s.cols, batch, epilogue: s.epilogue, norm: s.norm, weights, halfRead: read };
        let plan: GemvTuning;
        try {
          plan = gemvPlan(shape, split, storage);
        } catch (err) {
          log(`${name} B=${batch} ${JSON.stringify(split)}: ${(err as Error).message}`);
          continue;
        }
        const code = gemvShader(shape, plan);
        const ds = W.map((w) => bindDispatch(code, u, buffers(w), [gemvWorkgroups(shape, plan)], 'gemv', name));
        for (let i = 0; i < 3; i++) recordStep([ds[i % ds.length]]);
        const ms = median(await timeRuns((i, timestamps) => recordStep([ds[i % ds.length]], timestamps ? 'dispatch' : 'none', timestamps)));
        const GBps = bytes / ms / 1e6;
        rows.push({ batch, shape: name, split: `${plan.threadsPerRow},${plan.rowsPerThread},${plan.unroll}`, asked: `${split.threadsPerRow},${split.rowsPerThread},${split.unroll}`, medianUs: ms * 1000, GBps, ofCeiling: GBps / ceiling, perStep: s.perStep });
        log(`B=${batch} ${name.padEnd(8)} split ${plan.threadsPerRow},${plan.rowsPerThread},${plan.unroll}: ${(ms * 1000).toFixed(1).padStart(7)} us ${GBps.toFixed(0).padStart(5)} GB/s ${((100 * GBps) / ceiling).toFixed(0).padStart(3)}%`);
      }
      for (const b of [...W, xin, gain, res, y]) b.destroy();
      u.destroy();
      await gpuIdle();
    }
  }
  const result: GemvTuningFile = { kind: 'clusterkv-e2e-gemv-tuning', adapter: (gpuAdapterInfo() as Record<string, unknown> | undefined) ?? null, toggles: process.env.CLUSTERKV_DAWN_TOGGLES ?? '', model, weights, readCeilingGBps: ceiling, rows };
  // best split per batch: the least total time over the step's products, each weighted by its runs per step
  for (const batch of [1, 8]) log(bestSplits(result, batch));
  return result;
}
