/**
 * What one e2e configuration needs on the GPU, checked against the device before anything is allocated, so
 * that a configuration too large for the card is one line naming the bytes and the limit (a buffer past
 * WebGPU's limits fails validation and an allocation past the card's memory fails, both silently: the
 * run would go on and time nothing). WebGPU does not tell a card's memory: nvidia-smi does where there is
 * one, and the run's out-of-memory error scope (e2e-bench.ts) catches the rest.
 */
import { spawnSync } from 'node:child_process';
import { parameterCounts, kvBytes, type EngineShape } from './shape.js';

export interface E2eFootprint {
  /** every weight matrix, embedding and gain */
  weights: number;
  /** the KV caches of the batch at the engine's capacity, every layer */
  kv: number;
  /** weights + kv (activations and selection buffers are a few MB at most) */
  total: number;
  /** the largest single buffer and what it holds */
  largest: { what: string; bytes: number };
}

/** Bytes the engine allocates for `batch` sequences of `capacity` positions. */
export function e2eFootprint(shape: EngineShape, batch: number, capacity: number): E2eFootprint {
  const c = parameterCounts(shape);
  const weights = 4 * c.total;
  const kv = batch * kvBytes(shape, capacity);
  const kvLayer = kv / (2 * shape.layers);
  const buffers: { what: string; bytes: number }[] = [
    { what: `one layer's key cache (${batch} x ${shape.kvHeads} KV heads x ${capacity} positions x ${shape.headDim})`, bytes: kvLayer },
    { what: `the output head (${shape.vocabSize} x ${shape.dim})`, bytes: 4 * shape.vocabSize * shape.dim },
    { what: `one layer's gate and up projection (${2 * shape.hiddenDim} x ${shape.dim})`, bytes: 4 * 2 * shape.hiddenDim * shape.dim },
  ];
  const largest = buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { weights, kv, total: weights + kv, largest };
}

export interface DeviceMemoryLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** the card's memory where known, and who said so */
  memory?: { bytes: number; source: string };
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Why the device cannot hold the configuration (one line naming the bytes and the limit), or undefined. */
export function footprintProblem(fp: E2eFootprint, limits: DeviceMemoryLimits): string | undefined {
  const binding = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (fp.largest.bytes > binding) {
    const which = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    return `${fp.largest.what} is ${formatBytes(fp.largest.bytes)} (${fp.largest.bytes} bytes), more than the device's ${which} of ${formatBytes(binding)} (${binding} bytes)`;
  }
  if (limits.memory && fp.total > limits.memory.bytes) {
    return `needs ${formatBytes(fp.total)} of GPU memory (fp32 weights ${formatBytes(fp.weights)} + K/V caches ${formatBytes(fp.kv)}), more than the card's ${formatBytes(limits.memory.bytes)} (${limits.memory.source})`;
  }
  return undefined;
}

/** The memory of the first NVIDIA card as nvidia-smi reports it (undefined without nvidia-smi). */
export function nvidiaMemory(): DeviceMemoryLimits['memory'] {
  const run = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 });
  const mib = run.status === 0 ? Number(String(run.stdout).trim().split('\n')[0]) : NaN;
  return Number.isFinite(mib) && mib > 0 ? { bytes: mib * 2 ** 20, source: 'nvidia-smi memory.total' } : undefined;
}
