/// <reference types="@webgpu/types" />
/**
 * How the custom WGSL kernels run on tfjs's WebGPU backend: our own compute pipelines on the backend's
 * GPUDevice, bound to the tensors' own GPU buffers, recorded into the backend's command encoder.
 *
 * Why not tfjs's program interface (backend.runWebGPUProgram): it writes a uniform buffer of every
 * input's shape and strides, builds a shader key string and a bind group per call, and with tf.time active
 * puts every program in its own pass; a ClusterKV decode step needs three dispatches in one command buffer,
 * with an intermediate (the token list) that never becomes a tensor. Recording into the backend's own
 * encoder keeps the order with tfjs's ops (everything tfjs queued before runs first: same command buffer),
 * and tfjs's buffer pool provides outputs and temporaries.
 *
 * One `record` call = one compute pass (its dispatches in order; WebGPU makes each dispatch's writes
 * visible to the next) and one queue submit. With a kernel timer active (timeKernels), the pass carries
 * timestamp writes: begin and end of the pass, read back once the timer stops.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-webgpu's WebGPUBackend (4.22) used here. */
interface TfWebgpuBackend {
  device: GPUDevice;
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  tensorMap: { get(dataId: object): { resource: GPUBuffer | null; dtype: tf.DataType } | undefined };
  bufferManager: TfBufferPool;
}

/** tfjs-backend-webgpu 4.22's BufferManager, as far as this module reads it (buffer_manager.ts). */
interface TfBufferPool {
  acquireBuffer(size: number, usage: number): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  /** free buffers by `${size}_${usage}` */
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  /** bytes of every buffer the pool holds, in use or free */
  numBytesAllocated: number;
  /** bytes of the buffers in use (tensors, a recording's scratch) */
  numBytesUsed: number;
}

/** GPUBufferUsage flags (the globals exist only once Dawn is loaded). */
export const BUFFER_USAGE = { STORAGE: 0x80, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, MAP_READ: 0x1, QUERY_RESOLVE: 0x200 } as const;
const { STORAGE, COPY_SRC, COPY_DST, UNIFORM, MAP_READ, QUERY_RESOLVE } = BUFFER_USAGE;

export function webgpuBackend(): TfWebgpuBackend {
  if (tf.getBackend() !== 'webgpu') throw new Error(`WGSL kernels need the webgpu backend (active: ${tf.getBackend()})`);
  return tf.backend() as unknown as TfWebgpuBackend;
}

export interface DeviceLimits {
  workgroupStorage: number;
  invocations: number;
  storageBuffers: number;
  maxBinding: number;
}

const limitsCache = new WeakMap<GPUDevice, DeviceLimits>();

/** The active device's limits that decide kernel variants (read once per device: each read is a native call). */
export function deviceLimits(): DeviceLimits {
  const { device } = webgpuBackend();
  let limits = limitsCache.get(device);
  if (!limits) {
    const l = device.limits;
    limits = { workgroupStorage: l.maxComputeWorkgroupStorageSize, invocations: l.maxComputeInvocationsPerWorkgroup, storageBuffers: l.maxStorageBuffersPerShaderStage, maxBinding: l.maxStorageBufferBindingSize };
    limitsCache.set(device, limits);
  }
  return limits;
}

export function hasTimestamps(): boolean {
  return webgpuBackend().device.features.has('timestamp-query');
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The compute pipeline of a WGSL source (entry point `main`), compiled once per device. */
export function pipeline(code: string): GPUComputePipeline {
  const { device } = webgpuBackend();
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let p = cache.get(code);
  if (!p) {
    const module = device.createShaderModule({ code });
    p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    cache.set(code, p);
  }
  return p;
}

const sources = new Map<string, string>();

/** The WGSL source named `key`, generated once: a decode step asks for its shaders every step. */
export function shaderSource(key: string, make: () => string): string {
  let code = sources.get(key);
  if (code === undefined) sources.set(key, (code = make()));
  return code;
}

/** Compiler messages for a WGSL source (tests and debugging: pipeline errors are otherwise asynchronous). */
export async function compileMessages(code: string): Promise<string[]> {
  const { device } = webgpuBackend();
  const info = await device.createShaderModule({ code }).getCompilationInfo();
  return info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
}

/** A tensor's GPU buffer (uploaded first if its values are still on the host). */
export function bufferOf(t: tf.Tensor, want: 'f32' | 'i32'): GPUBuffer {
  const backend = webgpuBackend();
  backend.uploadToGPU(t.dataId);
  const data = backend.tensorMap.get(t.dataId);
  if (!data?.resource) throw new Error('tensor has no GPU buffer');
  // tfjs may relabel an int buffer as float32 without converting (cast to a wider type); callers convert
  // such inputs with storageReady first
  const stored = data.dtype === 'float32' ? 'f32' : 'i32';
  if (stored !== want) throw new Error(`kernel input stored as ${data.dtype}, expected ${want === 'f32' ? 'float32' : 'int32'} storage`);
  return data.resource;
}

/**
 * `t` with storage of the wanted type: t itself, or (when tfjs keeps an int buffer under a float32 label, or
 * the dtype differs) a converted copy that the caller disposes (returned in `owned`).
 */
export function storageReady(t: tf.Tensor, want: 'f32' | 'i32'): { tensor: tf.Tensor; owned?: tf.Tensor } {
  const backend = webgpuBackend();
  const stored = backend.tensorMap.get(t.dataId)?.dtype ?? t.dtype;
  const storedKind = stored === 'float32' ? 'f32' : 'i32';
  if (storedKind === want && (want === 'f32' ? t.dtype === 'float32' : t.dtype !== 'float32')) return { tensor: t };
  // a real conversion: a binary op reads the buffer as stored and writes the output dtype
  const owned = want === 'f32' ? tf.mul(t.dtype === 'float32' ? t : tf.cast(t, 'float32'), tf.scalar(1)) : tf.cast(t, 'int32');
  return { tensor: owned, owned };
}

/** A new tensor whose GPU buffer a kernel will write (size > 0). */
export function outputTensor<R extends tf.Rank>(shape: number[], dtype: 'float32' | 'int32'): { tensor: tf.Tensor<R>; buffer: GPUBuffer } {
  const backend = webgpuBackend();
  const info = backend.makeTensorInfo(shape, dtype);
  backend.uploadToGPU(info.dataId);
  const buffer = backend.tensorMap.get(info.dataId)!.resource!;
  const tensor = tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor<R>;
  return { tensor, buffer };
}

/** A pooled storage buffer for intermediates of one recording (released after its submit). */
export function scratchBuffer(bytes: number): GPUBuffer {
  return webgpuBackend().bufferManager.acquireBuffer(Math.max(16, Math.ceil(bytes / 16) * 16), STORAGE | COPY_SRC | COPY_DST);
}

/** Uniform block of 32-bit fields in order: integers as u32 (or i32), numbers marked float as f32. */
export type UniformField = number | { f32: number };

/** The 32-bit words of a uniform block of `words` words (integers as u32, { f32 } as floats). */
export function packUniformFields(fields: UniformField[], words: number): Uint32Array {
  const u = new Uint32Array(words);
  const f = new Float32Array(u.buffer);
  fields.forEach((v, i) => {
    if (typeof v === 'number') u[i] = v >>> 0;
    else f[i] = v.f32;
  });
  return u;
}

function uniformBytes(fields: UniformField[]): Uint32Array {
  return packUniformFields(fields, Math.max(4, Math.ceil(fields.length / 4) * 4));
}

// Host cost per dispatch matters for a decode step of ~50 us on the GPU: uniform blocks are immutable
// buffers kept per content, and bind groups are kept per (pipeline, buffers) (the buffer pool hands the
// same buffers back step after step). Both caches are bounded and simply dropped when full.
const CACHE_LIMIT = 1024;
const uniformCache = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();
const groupCache = new WeakMap<GPUDevice, Map<string, GPUBindGroup>>();
const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

function idOf(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = nextObjectId++));
  return id;
}

function cacheOf<V>(caches: WeakMap<GPUDevice, Map<string, V>>, device: GPUDevice): Map<string, V> {
  let c = caches.get(device);
  if (!c || c.size >= CACHE_LIMIT) caches.set(device, (c = new Map()));
  return c;
}

function uniformBuffer(device: GPUDevice, fields: UniformField[]): GPUBuffer {
  const words = uniformBytes(fields);
  const key = words.join(',');
  const cache = cacheOf(uniformCache, device);
  let buffer = cache.get(key);
  if (!buffer) {
    buffer = device.createBuffer({ size: words.byteLength, usage: UNIFORM, mappedAtCreation: true });
    new Uint32Array(buffer.getMappedRange()).set(words);
    buffer.unmap();
    cache.set(key, buffer);
  }
  return buffer;
}

function bindGroup(device: GPUDevice, p: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
  const key = [p, ...buffers].map(idOf).join(',');
  const cache = cacheOf(groupCache, device);
  let group = cache.get(key);
  if (!group) {
    group = device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    cache.set(key, group);
  }
  return group;
}

export interface Dispatch {
  code: string;
  /** uniform fields (binding 0; every kernel has a uniform block) */
  uniforms: UniformField[];
  /** storage buffers at bindings 1, 2, ... in order */
  buffers: GPUBuffer[];
  workgroups: [number, number?, number?];
}

interface KernelTimer {
  querySet: GPUQuerySet;
  capacity: number;
  passes: number;
  overflow: boolean;
}

let timer: KernelTimer | undefined;
let passCount = 0;

/** Compute passes recorded so far in this process (tests check that a path really ran the kernels). */
export function recordedPasses(): number {
  return passCount;
}

/**
 * Records `dispatches` as one compute pass after whatever tfjs has queued, submits, and returns the
 * scratch buffers to the pool. `release` lists scratch buffers of this recording.
 */
export function record(dispatches: Dispatch[], release: GPUBuffer[] = []): void {
  const backend = webgpuBackend();
  const { device } = backend;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  const groups = dispatches.map((d) => {
    const p = pipeline(d.code);
    return { p, group: bindGroup(device, p, [uniformBuffer(device, d.uniforms), ...d.buffers]) };
  });
  let descriptor: GPUComputePassDescriptor = {};
  if (timer && timer.passes < timer.capacity) {
    descriptor = { timestampWrites: { querySet: timer.querySet, beginningOfPassWriteIndex: 2 * timer.passes, endOfPassWriteIndex: 2 * timer.passes + 1 } };
    timer.passes++;
  } else if (timer) timer.overflow = true;
  const pass = backend.commandEncoder!.beginComputePass(descriptor);
  passCount++;
  dispatches.forEach((d, i) => {
    pass.setPipeline(groups[i].p);
    pass.setBindGroup(0, groups[i].group);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1);
  });
  pass.end();
  backend.submitQueue();
  for (const b of release) backend.bufferManager.releaseBuffer(b);
}

/**
 * Submits tfjs's queued work, then destroys the buffers its pool keeps free and returns their bytes. The
 * pool keeps every released buffer for a later request of the very same size and never lets one go, so a
 * selection that rebuilds its state at growing sizes (a unit index after each closed window, ClusterKV's
 * concatenated centroids) would leave every size behind on the GPU; the decode engine trims after a sparse
 * step that met a new layout of windows (decode-engine.ts). The submit first: a tensor disposed before it may
 * already sit in the free list while queued work still reads its buffer (tfjs does not track its own
 * uploads); WebGPU frees a destroyed buffer once submitted work using it is done.
 */
export function trimBufferPool(): number {
  const backend = webgpuBackend();
  if (backend.commandEncoder) backend.submitQueue();
  const pool = backend.bufferManager;
  let bytes = 0;
  // the keys stay (releaseBuffer ignores every release while the map is empty)
  for (const free of pool.freeBuffers.values()) {
    for (const b of free) {
      bytes += b.size;
      b.destroy();
    }
    free.length = 0;
  }
  pool.numFreeBuffers = 0;
  pool.numBytesAllocated -= bytes;
  return bytes;
}

/** Bytes tfjs's pool holds: in use, and in all (free ones included). */
export function bufferPoolBytes(): { used: number; allocated: number } {
  const pool = webgpuBackend().bufferManager;
  return { used: pool.numBytesUsed, allocated: pool.numBytesAllocated };
}

/** Flushes tfjs's queued work and waits until the GPU has finished everything submitted. */
export async function gpuIdle(): Promise<void> {
  const backend = webgpuBackend();
  if (backend.commandEncoder) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  await backend.queue.onSubmittedWorkDone();
}

/**
 * Starts timing the passes that `record` submits from now on (GPU timestamps at each pass's begin and end).
 * Returns undefined when the device has no 'timestamp-query' (e.g. the software adapter).
 */
export function startKernelTimer(capacity = 512): boolean {
  if (!hasTimestamps()) return false;
  if (timer) throw new Error('a kernel timer is already running');
  timer = { querySet: webgpuBackend().device.createQuerySet({ type: 'timestamp', count: 2 * capacity }), capacity, passes: 0, overflow: false };
  return true;
}

/**
 * Stops the timer: the summed duration (ms) of the timed passes, or undefined when none ran, timestamps are
 * missing, or more passes ran than the timer holds.
 */
export async function stopKernelTimer(): Promise<number | undefined> {
  const t = timer;
  timer = undefined;
  if (!t) return undefined;
  if (t.passes === 0 || t.overflow) {
    t.querySet.destroy();
    return undefined;
  }
  const backend = webgpuBackend();
  const bytes = 16 * t.passes;
  const resolved = backend.bufferManager.acquireBuffer(bytes, QUERY_RESOLVE | COPY_SRC);
  const staging = backend.bufferManager.acquireBuffer(bytes, MAP_READ | COPY_DST);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.commandEncoder!.resolveQuerySet(t.querySet, 0, 2 * t.passes, resolved, 0);
  backend.commandEncoder!.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
  backend.submitQueue();
  await staging.mapAsync(1 /* GPUMapMode.READ */);
  const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  backend.bufferManager.releaseBuffer(resolved);
  backend.bufferManager.releaseBuffer(staging);
  t.querySet.destroy();
  let ns = 0;
  for (let i = 0; i < t.passes; i++) ns += Number(stamps[2 * i + 1] - stamps[2 * i]);
  return ns / 1e6;
}
