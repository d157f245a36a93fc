/**
 * The read ceiling of the device: the GB/s of ceilings/copy-read.ts's read kernel over a large buffer of
 * non-zero data (a read of zeros can run faster than real data), GPU-timed, in this process. A decode step's
 * bytes bound is its bytes over this ceiling (step-bytes.ts); the e2e benchmark and `doctor --model` use it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readWgsl } from '../../gpu/wgsl/ceilings/copy-read.js';
import { FILL_GROUPS, uniformFillShader } from '../../gpu/wgsl/engine/seeded-fill.js';
import { deviceLimits, gpuIdle, hasTimestamps, outputTensor, record, startKernelTimer, stopKernelTimer } from '../../gpu/wgsl/runtime/runtime.js';

export interface ReadCeiling {
  bytes: number;
  ms: number;
  GBps: number;
}

/**
 * The GB/s the H100 80GB's WGSL read kernel reached through WebGPU (issue 19's measurement, 2845 GB/s): the
 * ceiling `doctor --model` assumes when it cannot measure one and none is given (--read-gbps).
 */
export const ASSUMED_READ_GBPS = 2845;

/** A buffer of `bytes` made on the device (seeded uniform values). */
function deviceRandom(bytes: number, seed: number): tf.Tensor1D {
  const n = Math.floor(bytes / 16) * 4;
  const out = outputTensor<tf.Rank.R1>([n], 'float32');
  record([{ code: uniformFillShader(), uniforms: [n, seed, { f32: 1 }, { f32: 0 }], buffers: [out.buffer], workgroups: [Math.min(FILL_GROUPS, Math.ceil(n / 256))] }]);
  return out.tensor;
}

/** The read ceiling over `bytes` (capped at the binding limit); null without timestamp queries. */
export async function readCeiling(bytes: number, seed: number): Promise<ReadCeiling | null> {
  if (!hasTimestamps()) return null;
  const x = deviceRandom(Math.min(bytes, deviceLimits().maxBinding), seed);
  for (let i = 0; i < 3; i++) readWgsl(x).dispose();
  await gpuIdle();
  const runs = 10;
  startKernelTimer(runs + 1);
  for (let i = 0; i < runs; i++) readWgsl(x).dispose();
  const ms = await stopKernelTimer();
  const read = x.size * 4;
  x.dispose();
  if (ms === undefined) return null;
  return { bytes: read, ms: ms / runs, GBps: read / (ms / runs) / 1e6 };
}
