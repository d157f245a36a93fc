/// <reference types="@webgpu/types" />
/**
 * Recording a whole decode step (hundreds of dispatches) into one command buffer, for engines that run
 * their own buffers on tfjs's WebGPU device (runtime.ts explains why our kernels record into tfjs's encoder).
 *
 * runtime.ts's `record` builds bind groups and uniform buffers per call and submits per pass: right for a
 * kernel called from tfjs code, too slow for a decode step of ~300 dispatches whose buffers never change.
 * Here a dispatch is bound once (pipeline, bind group, a uniform block the engine rewrites between steps
 * with queue.writeBuffer), and a step is encoded as:
 *   'none'      one compute pass, no timestamps
 *   'span'      one compute pass with timestamps at its begin and end (the step's GPU span)
 *   'dispatch'  one pass per dispatch, each with begin and end timestamps (where the time goes; the passes
 *               add their own small cost, so the plain step is timed in 'span' mode)
 * then one submit. Timestamps go to a TimestampLog, resolved and read once at the end of a measurement.
 */
import { BUFFER_USAGE, packUniformFields, pipeline, webgpuBackend, type UniformField } from './runtime.js';

const { STORAGE, COPY_SRC, COPY_DST, UNIFORM, MAP_READ, QUERY_RESOLVE } = BUFFER_USAGE;

/** A dispatch bound once: its pipeline, its bind group, and (mutable) workgroup counts. */
export interface BoundDispatch {
  /** what it computes, for reports (e.g. 'layer 3 gemv qkv') */
  label: string;
  /** where its time is counted (e.g. 'gemv', 'attention', 'selection', 'other') */
  category: string;
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  workgroups: [number, number, number];
}

/** A storage buffer of `bytes` (rounded up to 16) on tfjs's device; the caller destroys it. */
export function storageBuffer(bytes: number, label?: string): GPUBuffer {
  return webgpuBackend().device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE | COPY_SRC | COPY_DST, label });
}

/** A uniform block (32-bit fields, integers as u32, { f32 } as floats) rewritten between steps. */
export class UniformBlock {
  readonly buffer: GPUBuffer;
  private readonly words: number;
  private last = '';

  constructor(fields: UniformField[], label?: string) {
    this.words = Math.max(4, Math.ceil(fields.length / 4) * 4);
    this.buffer = webgpuBackend().device.createBuffer({ size: this.words * 4, usage: UNIFORM | COPY_DST, label });
    this.write(fields);
  }

  /** Queues the new contents (ordered after everything submitted before; skipped when unchanged). */
  write(fields: UniformField[]): void {
    const data = packUniformFields(fields, this.words);
    const key = data.join(',');
    if (key === this.last) return;
    this.last = key;
    webgpuBackend().queue.writeBuffer(this.buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

/** Binds a WGSL kernel (entry `main`; binding 0 the uniform block, then `buffers` at 1, 2, ...). */
export function bindDispatch(code: string, uniform: UniformBlock, buffers: GPUBuffer[], workgroups: [number, number?, number?], category: string, label: string): BoundDispatch {
  const { device } = webgpuBackend();
  const p = pipeline(code);
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform.buffer } }, ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } }))];
  return { label, category, pipeline: p, group: device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }), workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1] };
}

/** One timed pass: which dispatches it holds and where its two timestamps went. */
export interface TimedPass {
  /** the step it belongs to (caller's numbering) */
  step: number;
  labels: string[];
  categories: string[];
  begin: number;
  end: number;
}

/** Timestamp queries of a measurement: a query set, the passes that wrote into it, read once at the end. */
export class TimestampLog {
  readonly passes: TimedPass[] = [];
  private readonly querySet: GPUQuerySet;
  private used = 0;

  constructor(readonly capacity: number) {
    this.querySet = webgpuBackend().device.createQuerySet({ type: 'timestamp', count: capacity });
  }

  /** Query indices for one more pass, or undefined when the set is full. */
  take(step: number, labels: string[], categories: string[]): GPUComputePassTimestampWrites | undefined {
    if (this.used + 2 > this.capacity) return undefined;
    const pass: TimedPass = { step, labels, categories, begin: this.used, end: this.used + 1 };
    this.used += 2;
    this.passes.push(pass);
    return { querySet: this.querySet, beginningOfPassWriteIndex: pass.begin, endOfPassWriteIndex: pass.end };
  }

  get full(): boolean {
    return this.used + 2 > this.capacity;
  }

  /** Resolves the queries written so far (after the GPU has run them) and returns them in ns. */
  async read(): Promise<Float64Array> {
    const out = new Float64Array(this.used);
    if (this.used === 0) return out;
    const backend = webgpuBackend();
    const bytes = 8 * this.used;
    const resolved = backend.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const staging = backend.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.commandEncoder!.resolveQuerySet(this.querySet, 0, this.used, resolved, 0);
    backend.commandEncoder!.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    backend.submitQueue();
    await staging.mapAsync(1 /* GPUMapMode.READ */);
    const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    resolved.destroy();
    staging.destroy();
    for (let i = 0; i < this.used; i++) out[i] = Number(stamps[i]);
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
  }
}

export type StepTiming = 'none' | 'span' | 'dispatch';

function encodeDispatch(pass: GPUComputePassEncoder, d: BoundDispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.group);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

/**
 * Encodes `dispatches` in order after whatever tfjs has queued, and submits once. Timestamps go to `log`
 * ('span' and 'dispatch'; a full log leaves the remaining passes untimed).
 */
export function recordStep(dispatches: BoundDispatch[], timing: StepTiming = 'none', log?: TimestampLog, step = 0): void {
  const backend = webgpuBackend();
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  const encoder = backend.commandEncoder!;
  if (timing === 'dispatch' && log) {
    for (const d of dispatches) {
      const writes = log.take(step, [d.label], [d.category]);
      const pass = encoder.beginComputePass(writes ? { timestampWrites: writes } : {});
      encodeDispatch(pass, d);
      pass.end();
    }
  } else {
    const writes = timing !== 'none' && log ? log.take(step, dispatches.map((d) => d.label), dispatches.map((d) => d.category)) : undefined;
    const pass = encoder.beginComputePass(writes ? { timestampWrites: writes } : {});
    for (const d of dispatches) encodeDispatch(pass, d);
    pass.end();
  }
  backend.submitQueue();
}

/** Runs `encode` on tfjs's command encoder (outside any pass) and submits: copies between buffers. */
export function recordCopies(encode: (encoder: GPUCommandEncoder) => void): void {
  const backend = webgpuBackend();
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  encode(backend.commandEncoder!);
  backend.submitQueue();
}

/** Copies `bytes` of `buffer` from `offset` to the host (waits for the GPU). */
export async function readBuffer(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = webgpuBackend().device.createBuffer({ size, usage: MAP_READ | COPY_DST });
  recordCopies((e) => e.copyBufferToBuffer(buffer, offset, staging, 0, size));
  await staging.mapAsync(1 /* GPUMapMode.READ */);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return out;
}

/** Writes host data into a buffer (queued: ordered after everything submitted before). */
export function writeBuffer(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  webgpuBackend().queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
}
