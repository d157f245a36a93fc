/**
 * Stage timing for the GPU benchmark. tfjs queues work asynchronously on webgpu (and may on other backends),
 * so a wall-clock time is only meaningful once the GPU has finished: `fence` waits for a tensor by reading
 * back a one-element reduction of it (await data(), a real device->host sync of 4 bytes), and `timeStage`
 * fences before starting the clock and after the stage. Where the backend reports kernel time
 * (tf.time().kernelMs: webgpu with timestamp queries, tensorflow), `kernelMs` gives it as well.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Waits until every kernel producing `t` has finished (reads back one number derived from it). */
export async function fence(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  const list = Array.isArray(t) ? t : [t];
  if (list.length === 0) return;
  const probe = tf.tidy(() => tf.addN(list.map((x) => tf.cast(tf.sum(tf.slice(tf.reshape(x, [-1]), 0, Math.min(1, x.size))), 'float32'))));
  await probe.data();
  probe.dispose();
}

export interface StageTime<T> {
  result: T;
  /** wall-clock milliseconds from a fenced start to the fenced end of the stage */
  wallMs: number;
}

/** Runs `stage` and times it wall-clock, fenced on its output tensors (`outputs` picks them from the result). */
export async function timeStage<T>(stage: () => T, outputs: (result: T) => tf.Tensor[], inputs: tf.Tensor[] = []): Promise<StageTime<T>> {
  await fence(inputs);
  const t0 = performance.now();
  const result = stage();
  await fence(outputs(result));
  return { result, wallMs: performance.now() - t0 };
}

/** Kernel time of `f` where the backend measures it (undefined otherwise: cpu and wasm report wall time only). */
export async function kernelMs(f: () => tf.Tensor | tf.Tensor[]): Promise<number | undefined> {
  const info = await tf.time(() => {
    const out = f();
    tf.dispose(out);
  });
  const ms = (info as { kernelMs: number | { error: string } }).kernelMs;
  return typeof ms === 'number' ? ms : undefined;
}

export interface Quantiles {
  median: number;
  p10: number;
  p90: number;
  runs: number;
}

/** Median and 10th/90th percentiles of samples (ms). */
export function summarise(samples: number[]): Quantiles {
  if (samples.length === 0) throw new RangeError('no samples to summarise');
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), runs: s.length };
}

export interface Timing {
  wallMs: Quantiles;
  /** GPU kernel time, where the backend measures it */
  kernelMs?: Quantiles;
  /** bytes the stage must read and write at minimum (fp32), for bandwidth comparisons */
  bytes: number;
  /** bytes / median time (kernel time where measured, else wall), GB/s */
  achievedGBps: number;
}

/** Median time of a timing: kernel time where measured, else wall time. */
export function timingMs(t: Timing): number {
  return (t.kernelMs ?? t.wallMs).median;
}
