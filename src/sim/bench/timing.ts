/**
 * Stage timing for the GPU benchmark. tfjs queues work asynchronously on webgpu (and may on other backends),
 * so a wall-clock time is only meaningful once the GPU has finished: `fence` waits for it (on webgpu: submit
 * everything queued and wait for the queue to drain, the same for the op chains and the WGSL kernels;
 * elsewhere: read back a one-element reduction of the output). `kernelTime` gives the GPU's own time where
 * the backend measures it: on webgpu the timestamp-query duration of the WGSL kernels' passes (the whole
 * pass, gaps between its dispatches included) plus tf.time's per-program times of tfjs ops; on cpu and wasm
 * tf.time's kernelMs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gpuIdle, startKernelTimer, stopKernelTimer } from '../../gpu/wgsl/runtime/runtime.js';
import { median, quantile } from '../quantile.js';

/** Waits until every kernel producing `t` (on webgpu: everything queued) has finished. */
export async function fence(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  if (tf.getBackend() === 'webgpu') return gpuIdle();
  const list = Array.isArray(t) ? t : [t];
  if (list.length === 0) return;
  const probe = tf.tidy(() => tf.addN(list.map((x) => tf.cast(tf.sum(tf.slice(tf.reshape(x, [-1]), 0, Math.min(1, x.size))), 'float32'))));
  await probe.data();
  probe.dispose();
}

/** Kernel time of `f` in ms where the backend measures it (undefined otherwise). Its outputs are disposed. */
export async function kernelTime(f: () => tf.Tensor | tf.Tensor[]): Promise<number | undefined> {
  const timed = tf.getBackend() === 'webgpu' && startKernelTimer();
  const info = await tf.time(() => {
    tf.dispose(f());
  });
  const own = timed ? await stopKernelTimer() : undefined;
  const ms = (info as { kernelMs: number | { error: string } }).kernelMs;
  const ops = typeof ms === 'number' ? ms : undefined;
  if (own === undefined) return ops !== undefined && (ops > 0 || tf.getBackend() !== 'webgpu') ? ops : undefined;
  return own + (ops ?? 0);
}

export interface Quantiles {
  median: number;
  p10: number;
  p90: number;
  runs: number;
}

/** Median and 10th/90th percentiles of samples (ms), by the one quantile rule (src/sim/quantile.ts). */
export function summarise(samples: number[]): Quantiles {
  if (samples.length === 0) throw new RangeError('no samples to summarise');
  return { median: median(samples), p10: quantile(samples, 0.1), p90: quantile(samples, 0.9), runs: samples.length };
}

export interface Timing {
  wallMs: Quantiles;
  /** GPU kernel time, where the backend measures it */
  kernelMs?: Quantiles;
  /** wall time per run of runs submitted back to back (host work and GPU overlapped: a decode loop's rate) */
  loopWallMs?: number;
  /** bytes the stage must read and write at minimum (fp32), for bandwidth comparisons */
  bytes: number;
  /** bytes / median time (kernel time where measured, else wall), GB/s */
  achievedGBps: number;
  /** when merged from several processes: each process's medians (kernel where measured, and wall) */
  processes?: { kernelMs?: number[]; wallMs: number[] };
}

/** Median time of a timing: kernel time where measured, else wall time. */
export function timingMs(t: Timing): number {
  return (t.kernelMs ?? t.wallMs).median;
}
