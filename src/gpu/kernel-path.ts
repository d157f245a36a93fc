/**
 * Which implementation the public kernels of src/gpu run: 'wgsl' (custom WebGPU compute kernels,
 * src/gpu/wgsl/) where the active backend is webgpu, else 'ops' (chains of tfjs ops: the portable
 * reference, and the only path on cpu, wasm and tensorflow).
 *
 * Default 'wgsl'; env CLUSTERKV_KERNELS=ops forces the op chain everywhere; setKernelPath overrides both
 * (the bench and parity run both paths in one process with withKernelPath). Which implementation of a
 * kernel runs on the requested path is the dispatcher's choice (kernel-dispatch.ts), nobody else's.
 */
import * as tf from '@tensorflow/tfjs-core';

export const KERNEL_PATHS = ['ops', 'wgsl'] as const;
export type KernelPath = (typeof KERNEL_PATHS)[number];

let forced: KernelPath | undefined;

export function isKernelPath(name: string): name is KernelPath {
  return (KERNEL_PATHS as readonly string[]).includes(name);
}

/** Forces a path for every later call (undefined: back to env CLUSTERKV_KERNELS, else 'wgsl'). */
export function setKernelPath(path: KernelPath | undefined): void {
  if (path !== undefined && !isKernelPath(path)) throw new RangeError(`unknown kernel path '${String(path)}': expected one of ${KERNEL_PATHS.join(', ')}`);
  forced = path;
}

/** The requested path (what runs where it can: 'wgsl' runs only on webgpu). */
export function kernelPath(): KernelPath {
  if (forced) return forced;
  const env = process.env.CLUSTERKV_KERNELS;
  if (env === undefined || env === '') return 'wgsl';
  if (!isKernelPath(env)) throw new RangeError(`env CLUSTERKV_KERNELS='${env}': expected one of ${KERNEL_PATHS.join(', ')}`);
  return env;
}

/** Whether `path` exists on the active backend whatever is requested: 'ops' everywhere, 'wgsl' on webgpu. */
export function pathAvailable(path: KernelPath): boolean {
  return path === 'ops' || tf.getBackend() === 'webgpu';
}

/**
 * Whether an implementation on `path` may run now (the dispatcher's test, kernel-dispatch.ts): the op chain
 * always (it is every kernel's fallback), 'wgsl' when requested and available.
 */
export function pathRuns(path: KernelPath): boolean {
  return path === 'ops' || (kernelPath() === path && pathAvailable(path));
}

/** Runs f with the path forced to `path`, then restores the previous setting (also when f throws or rejects). */
export function withKernelPath<T>(path: KernelPath, f: () => T): T {
  const saved = forced;
  forced = path;
  let result: T;
  try {
    result = f();
  } catch (err) {
    forced = saved;
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => (forced = saved)) as T;
  forced = saved;
  return result;
}
