/**
 * What the engine needs on the GPU, added up before anything is allocated, so that a model or batch too
 * large for the device is one line naming the bytes and the limit instead of an allocation that fails
 * silently (WebGPU reports a buffer past its limits as a validation error and memory exhaustion as an
 * out-of-memory error, both asynchronous: the work would go on and time nothing).
 *
 *   weights      every matrix and the embedding in the weights' dtype, gains (and biases) f32; a tied head
 *                is the embedding
 *   kv           the KV caches of the batch at the capacity, every layer, keys and values, in the cache's dtype
 *   activations  the decode step's and the prefill chunk's buffers (f32)
 *   selection    a sparse method's: the selected positions and token lists [B H, ...] (i32), each sparse
 *                layer's queries [B H, d] for a method fit on the prompt's queries, and what its
 *                batched form declares it holds (SelectionBytes, src/sim/batched-selector.ts: each sparse
 *                layer's state, the shared scratch, the largest moment of a rebuild)
 * Limits: WebGPU's largest buffer (maxBufferSize) and binding (maxStorageBufferBindingSize) for the largest
 * single buffer; the card's memory for the total. WebGPU does not tell a card's memory; nvidia-smi does where
 * there is one (or env CLUSTERKV_GPU_MEMORY_GB), otherwise only the per-buffer limits are checked.
 */
import { spawnSync } from 'node:child_process';
import { STORAGE_BYTES, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import { webgpuBackend } from '../../gpu/wgsl/runtime/runtime.js';
import { ModelError } from '../errors.js';
import { kvBytes, qkvRows, weightStorageBytes, type EngineShape } from './shape.js';
import { listCapacity, selectionTotal, type MethodEngine } from '../../sim/batched-selector.js';

/** A sparse method's part of a request: its engine form and the largest budget the engine is sized for. */
export interface SelectionRequest {
  /** the method's name, for messages */
  name: string;
  engine: Extract<MethodEngine, { kind: 'batched' }>;
  largestBudget: number;
  /** the prompt's length where it is known (else the most any prompt within the capacity needs) */
  prompt?: number;
}

export interface FootprintRequest {
  shape: EngineShape;
  weights: StorageDType;
  kv: StorageDType;
  /** sequences decoded together */
  batch: number;
  /** KV positions per sequence */
  capacity: number;
  /** the output head is the embedding */
  tied?: boolean;
  /** prefill rows per chunk (0: no prefill buffers) */
  prefillChunk?: number;
  /** the sparse method decoded, if any */
  selection?: SelectionRequest;
  /** the KV caches exist already (a session decoding in another's cache): not counted again */
  cacheExists?: boolean;
}

export interface EngineFootprint {
  weights: number;
  kv: number;
  activations: number;
  selection: number;
  total: number;
  /** the largest single buffer and what it holds */
  largest: { what: string; bytes: number };
  /** what the bytes are, for messages: e.g. 'f16 weights 2.5 GB + f16 K/V caches 1.1 GB + activations 0.1 GB' */
  parts: string;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Bytes of the engine's buffers for a request (see the file comment). */
export function engineFootprint(r: FootprintRequest): EngineFootprint {
  const s = r.shape;
  const B = r.batch;
  const e = STORAGE_BYTES[r.weights];
  const weights = weightStorageBytes(s, r.weights, r.tied);
  const kv = r.cacheExists ? 0 : B * kvBytes(s, r.capacity, r.kv);
  const n = r.prefillChunk ?? 0;
  const rowFloats = 3 * s.dim + qkvRows(s) + 2 * s.heads * s.headDim + s.hiddenDim;
  const activations = 4 * (B * (rowFloats + s.vocabSize) + n * rowFloats + s.vocabSize);
  const buffers = [
    { what: `one layer's key cache (${B} x ${s.kvHeads} KV heads x ${r.capacity} positions x ${s.headDim}, ${r.kv})`, bytes: kv / (2 * s.layers) },
    { what: `the ${r.tied ? 'embedding (tied output head)' : 'output head'} (${s.vocabSize} x ${s.dim}, ${r.weights})`, bytes: e * s.vocabSize * s.dim },
    { what: `one layer's gate and up projection (${2 * s.hiddenDim} x ${s.dim}, ${r.weights})`, bytes: e * 2 * s.hiddenDim * s.dim },
  ];
  const largest = buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const selection = selectionBytes(r);
  const parts =
    `${r.weights} weights ${formatBytes(weights)} + ${r.kv} K/V caches ${formatBytes(kv)} + activations ${formatBytes(activations)}` +
    (r.selection ? ` + ${r.selection.name} selection ${formatBytes(selection)}` : '');
  return { weights, kv, activations, selection, total: weights + kv + activations + selection, largest, parts };
}

/** Bytes of a request's selection (see the file comment); 0 without one. */
function selectionBytes(r: FootprintRequest): number {
  const sel = r.selection;
  if (!sel) return 0;
  const s = r.shape;
  const { denseLayers } = sel.engine.budget;
  const rows = r.batch * s.heads;
  const own = sel.engine.bytes({ batch: r.batch, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, capacity: r.capacity, largestBudget: sel.largestBudget, prompt: sel.prompt });
  const layers = Math.max(0, s.layers - denseLayers);
  const lists = 4 * rows * (sel.largestBudget + listCapacity(sel.engine.budget, sel.largestBudget));
  // a method fit on the prompt's queries reads each sparse layer's own query buffer [B H, d] (decode-engine.ts)
  const queries = sel.engine.promptQueries ? 4 * rows * s.headDim * layers : 0;
  return lists + queries + selectionTotal(own, layers);
}

export interface DeviceMemoryLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** the card's memory where known, and who said so */
  memory?: { bytes: number; source: string };
}

/** Why the device cannot hold the footprint (one line naming the bytes and the limit), or undefined. */
export function footprintProblem(fp: EngineFootprint, limits: DeviceMemoryLimits): string | undefined {
  const binding = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (fp.largest.bytes > binding) {
    const which = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    return `${fp.largest.what} is ${formatBytes(fp.largest.bytes)} (${fp.largest.bytes} bytes), more than the device's ${which} of ${formatBytes(binding)} (${binding} bytes)`;
  }
  if (limits.memory && fp.total > limits.memory.bytes) {
    return `needs ${formatBytes(fp.total)} of GPU memory (${fp.parts}), more than the card's ${formatBytes(limits.memory.bytes)} (${limits.memory.source})`;
  }
  return undefined;
}

let nvidia: DeviceMemoryLimits['memory'] | null | undefined;

/** The card's memory: env CLUSTERKV_GPU_MEMORY_GB, else the first NVIDIA card's from nvidia-smi (asked once), else undefined. */
export function cardMemory(): DeviceMemoryLimits['memory'] {
  const env = process.env.CLUSTERKV_GPU_MEMORY_GB;
  if (env !== undefined && env !== '') {
    const gb = Number(env);
    if (!(gb > 0)) throw new ModelError(`CLUSTERKV_GPU_MEMORY_GB must be a positive number of GB, got '${env}'`);
    return { bytes: gb * 1e9, source: 'CLUSTERKV_GPU_MEMORY_GB' };
  }
  if (nvidia === undefined) {
    const run = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 10_000 });
    const mib = run.status === 0 ? Number(String(run.stdout).trim().split('\n')[0]) : NaN;
    nvidia = Number.isFinite(mib) && mib > 0 ? { bytes: mib * 2 ** 20, source: 'nvidia-smi memory.total' } : null;
  }
  return nvidia ?? undefined;
}

/** The active WebGPU device's buffer limits and the card's memory. */
export function deviceMemoryLimits(): DeviceMemoryLimits {
  const { limits } = webgpuBackend().device;
  return { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, memory: cardMemory() };
}

/** Throws a ModelError (one line: `what` needs so many bytes, the limit) when the device cannot hold the request. */
export function checkFootprint(r: FootprintRequest, what: string, limits: DeviceMemoryLimits = deviceMemoryLimits()): EngineFootprint {
  const fp = engineFootprint(r);
  const problem = footprintProblem(fp, limits);
  if (problem) throw new ModelError(`${what}: ${problem}`);
  return fp;
}
