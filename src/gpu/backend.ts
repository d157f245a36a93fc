/// <reference types="@webgpu/types" />
/**
 * Backend choice: one place decides which tfjs backend runs every algorithm.
 *
 * Order when none is asked for (flag `--backend`, else env `CLUSTERKV_BACKEND`):
 *   tensorflow (tfjs-node-gpu, else tfjs-node) -> webgpu (only with a real GPU adapter) -> wasm -> cpu.
 * A software WebGPU adapter is used only when env CLUSTERKV_WEBGPU_ADAPTER=software asks for it.
 * On webgpu the device is ours (ownWebgpuDevice): every optional feature the kernels can use that the adapter
 * offers (shader-f16, subgroups, subgroup-size-control, timestamp-query) and the adapter's maximum limits;
 * tfjs's WebGPU backend is registered on it.
 * Each loader returns a reason instead of throwing, so `clusterkv doctor` can say why a backend did not load.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { featuresTurnedOff, KERNEL_FEATURES, registerSubgroupSizes } from './wgsl/runtime/capabilities.js';

export const BACKEND_NAMES = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendProbe {
  name: BackendName;
  loaded: boolean;
  /** why it did not load (absent when loaded) */
  reason?: string;
  /** e.g. the tfjs-node package used, or the GPU adapter */
  detail?: Record<string, unknown>;
}

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/** Imports a module by a name TypeScript does not resolve (optional dependencies). */
async function importOptional(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

let adapterInfo: Record<string, unknown> | undefined;

async function loadTensorflow(): Promise<BackendProbe> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(pkg);
      if (tf.findBackend('tensorflow')) return { name: 'tensorflow', loaded: true, detail: { package: pkg } };
      reasons.push(`${pkg} loaded but registered no 'tensorflow' backend`);
    } catch (err) {
      reasons.push(`${pkg}: ${firstLine(err)}`);
    }
  }
  return { name: 'tensorflow', loaded: false, reason: reasons.join('; ') };
}

/** Dawn reaches NVIDIA/AMD/Intel GPUs through Vulkan on Linux: without the loader there is nothing to find. */
function vulkanLoaderMissing(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1'))) ? undefined : 'no Vulkan loader (libvulkan.so.1) on this machine, so Dawn can reach no GPU';
}

/**
 * env CLUSTERKV_WEBGPU_ADAPTER=software opts into a software WebGPU adapter: Dawn's OpenGL ES backend on
 * Mesa llvmpipe (apt: libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri). It runs the WGSL kernels on the
 * CPU, slowly but on the real WebGPU code paths, so tests and CI can check them without a GPU. Never
 * chosen on its own: without the variable a software adapter is refused, as no benchmark should time it.
 */
export const SOFTWARE_ADAPTER_PACKAGES = 'libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri';

export function softwareAdapterRequested(): boolean {
  return process.env.CLUSTERKV_WEBGPU_ADAPTER === 'software';
}

/** Extra Dawn toggles from env CLUSTERKV_DAWN_TOGGLES (comma-separated, e.g. disable_robustness), for tuning runs. */
function extraToggles(): string[] {
  return (process.env.CLUSTERKV_DAWN_TOGGLES ?? '').split(',').map((t) => t.trim()).filter(Boolean);
}

interface GpuLike {
  requestAdapter: (o?: Record<string, unknown>) => Promise<GpuAdapterLike | null>;
  wgslLanguageFeatures?: unknown;
}

/** Creates navigator.gpu through Dawn for Node (the `webgpu` package), hardware or software as asked. */
async function installNavigatorGpu(software: boolean): Promise<void> {
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (software) process.env.EGL_PLATFORM ??= 'surfaceless'; // before Dawn initialises EGL: no display here
  const webgpu = (await importOptional('webgpu')) as { create: (o: string[]) => GpuLike; globals: object };
  Object.assign(globalThis, webgpu.globals);
  // allow_unsafe_apis exposes 'timestamp-query', which kernel times need; Dawn otherwise quantizes
  // timestamps to 2^16 ns (65.5 us), too coarse for kernels of tens of us. vulkan_enable_f16_on_nvidia:
  // Dawn hides 'shader-f16' on NVIDIA's Vulkan driver unless asked (the hardware has it).
  const toggles = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia', ...extraToggles()];
  const flags = [`enable-dawn-features=${toggles.join(',')}`, 'disable-dawn-features=timestamp_quantization'];
  let gpu: GpuLike = webgpu.create(software ? ['backend=opengles', ...flags] : flags);
  if (software) {
    // the GL backend offers only a 'compatibility' adapter, and tfjs asks without a featureLevel
    const raw = gpu;
    const requestAdapter = raw.requestAdapter.bind(raw);
    gpu = { requestAdapter: (o = {}) => requestAdapter({ ...o, featureLevel: 'compatibility' }), wgslLanguageFeatures: raw.wgslLanguageFeatures };
    Object.assign(gpu, { getPreferredCanvasFormat: () => 'rgba8unorm' });
  }
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

async function loadWebgpu(): Promise<BackendProbe> {
  const software = softwareAdapterRequested();
  const missing = software ? undefined : vulkanLoaderMissing();
  if (missing) return { name: 'webgpu', loaded: false, reason: missing };
  try {
    const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
    // navigator.gpu must exist before the tfjs webgpu backend is imported: that module registers itself
    // only when it sees navigator.gpu
    if (!g.navigator?.gpu) await installNavigatorGpu(software);
    const gpu = g.navigator!.gpu as GpuLike;
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      const why = software ? `no software adapter (needs Mesa's EGL/GLES: apt-get install ${SOFTWARE_ADAPTER_PACKAGES})` : 'navigator.gpu found no GPU adapter (no Vulkan driver or GPU)';
      return { name: 'webgpu', loaded: false, reason: why };
    }
    adapterInfo = await describeAdapter(adapter);
    const looksSoftware = adapterInfo.isFallbackAdapter === true || /swiftshader|llvmpipe|cpu/i.test(String(adapterInfo.device ?? '') + String(adapterInfo.description ?? ''));
    if (software) adapterInfo.software = true;
    else if (looksSoftware) {
      return { name: 'webgpu', loaded: false, reason: `only a software adapter (${JSON.stringify(adapterInfo)}); set CLUSTERKV_WEBGPU_ADAPTER=software to use it anyway`, detail: adapterInfo };
    }
    const tfWebgpu = (await importOptional('@tensorflow/tfjs-backend-webgpu')) as { WebGPUBackend: WebgpuBackendClass };
    if (!tf.findBackendFactory('webgpu')) return { name: 'webgpu', loaded: false, reason: 'tfjs-backend-webgpu did not register (navigator.gpu missing at import)' };
    await ownWebgpuDevice(adapter, tfWebgpu.WebGPUBackend, adapterInfo);
    return { name: 'webgpu', loaded: true, detail: adapterInfo };
  } catch (err) {
    return { name: 'webgpu', loaded: false, reason: firstLine(err) };
  }
}

export interface GpuAdapterLike {
  info?: Record<string, unknown>;
  limits?: Record<string, unknown>;
  features?: Iterable<string>;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<Record<string, unknown>>;
  requestDevice: (d: { requiredFeatures: string[]; requiredLimits: Record<string, number> }) => Promise<GPUDevice>;
}

export type WebgpuBackendClass = new (device: GPUDevice, adapterInfo: unknown) => tf.KernelBackend;

/** The device tfjs's webgpu backend runs on, once ownWebgpuDevice has made it (one per process), and what it has. */
let ownDevice: { device: GPUDevice; info: Record<string, unknown> } | undefined;

/**
 * Our own GPUDevice: every feature of KERNEL_FEATURES the adapter offers and every limit at the adapter's
 * maximum (tfjs asks for a few limits and only 'timestamp-query'); tfjs's webgpu backend is re-registered on
 * it (tfjs 4.22 takes an application's device: new WebGPUBackend(device, adapterInfo)). tfjs's own programs
 * use neither f16 nor subgroups; our kernels build their own modules on this device and bind tfjs's buffers.
 */
export async function ownWebgpuDevice(adapter: GpuAdapterLike, Backend: WebgpuBackendClass, info: Record<string, unknown>): Promise<void> {
  if (ownDevice) {
    Object.assign(info, ownDevice.info);
    return;
  }
  const offered = new Set(adapter.features ?? []);
  const off = featuresTurnedOff();
  const requiredFeatures = KERNEL_FEATURES.filter((f) => offered.has(f) && !off.includes(f));
  const all: Record<string, number> = {};
  for (const key in adapter.limits ?? {}) {
    const v = (adapter.limits as Record<string, unknown>)[key];
    if (typeof v === 'number') all[key] = v;
  }
  // every limit at its maximum; should an adapter refuse one it reports, the limits tfjs itself asks for
  const tfjsLimits = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits: all });
  } catch {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits: Object.fromEntries(tfjsLimits.filter((k) => k in all).map((k) => [k, all[k]])) });
  }
  const raw = adapter.info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  if (raw?.subgroupMinSize && raw.subgroupMaxSize) registerSubgroupSizes(device, { min: raw.subgroupMinSize, max: raw.subgroupMaxSize });
  const deviceInfo: Record<string, unknown> = { deviceFeatures: KERNEL_FEATURES.filter((f) => device.features.has(f)) };
  if (device.features.has('subgroups') && raw?.subgroupMinSize) deviceInfo.subgroupSizes = [raw.subgroupMinSize, raw.subgroupMaxSize];
  Object.assign(info, deviceInfo);
  const adapterInfoForTfjs = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : undefined);
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new Backend(device, adapterInfoForTfjs), 3);
  ownDevice = { device, info: deviceInfo };
}

async function describeAdapter(adapter: GpuAdapterLike): Promise<Record<string, unknown>> {
  const info: Record<string, unknown> = {};
  const src = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
  for (const key of ['vendor', 'architecture', 'device', 'description']) info[key] = (src as Record<string, unknown>)[key];
  info.isFallbackAdapter = adapter.isFallbackAdapter ?? false;
  const limits: Record<string, unknown> = {};
  for (const key of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage']) {
    if (adapter.limits && key in adapter.limits) limits[key] = (adapter.limits as Record<string, unknown>)[key];
  }
  info.limits = limits;
  // the optional features the WGSL kernels can use that the adapter offers (deviceFeatures: those on)
  const features = adapter.features ? [...adapter.features] : [];
  info.features = KERNEL_FEATURES.filter((f) => features.includes(f));
  return info;
}

async function loadWasm(): Promise<BackendProbe> {
  try {
    await importOptional('@tensorflow/tfjs-backend-wasm');
    return { name: 'wasm', loaded: true };
  } catch (err) {
    return { name: 'wasm', loaded: false, reason: firstLine(err) };
  }
}

async function probe(name: BackendName): Promise<BackendProbe> {
  switch (name) {
    case 'tensorflow':
      return loadTensorflow();
    case 'webgpu':
      return loadWebgpu();
    case 'wasm':
      return loadWasm();
    case 'cpu':
      return { name: 'cpu', loaded: true };
  }
}

/** Tries every backend and reports which load and why not (for `clusterkv doctor`). */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of BACKEND_NAMES) out.push(await probe(name));
  return out;
}

/** The GPU adapter found while loading webgpu, if any. */
export function gpuAdapterInfo(): Record<string, unknown> | undefined {
  return adapterInfo;
}

/**
 * Makes `requested` (or env CLUSTERKV_BACKEND, or the first that loads) the active tfjs backend.
 * Throws BackendError naming the backend and the reason when an explicitly requested one cannot load.
 */
export async function useBackend(requested?: string): Promise<BackendName> {
  const asked = requested ?? process.env.CLUSTERKV_BACKEND ?? undefined;
  if (asked !== undefined && asked !== '') {
    if (!isBackendName(asked)) {
      throw new BackendError(`unknown backend '${asked}': expected one of ${BACKEND_NAMES.join(', ')}`);
    }
    const result = await probe(asked);
    if (!result.loaded) throw new BackendError(`backend '${asked}' cannot load: ${result.reason}`);
    if (!(await tf.setBackend(asked))) throw new BackendError(`backend '${asked}' failed to initialise`);
    await tf.ready();
    return asked;
  }
  for (const name of BACKEND_NAMES) {
    // a software adapter is for explicit use (tests, CI), never a default: nothing should be timed on it
    if (name === 'webgpu' && softwareAdapterRequested()) continue;
    const result = await probe(name);
    if (result.loaded && (await tf.setBackend(name).catch(() => false))) {
      await tf.ready();
      return name;
    }
  }
  throw new BackendError('no tfjs backend could be initialised');
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0];
}
