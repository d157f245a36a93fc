/**
 * Dawn's null WebGPU backend for tests that only compile: it offers shader-f16, subgroups and
 * subgroup-size-control, validates and compiles WGSL (Tint, uniformity analysis included) and creates
 * pipelines, but runs nothing. `nullWebgpu()` makes a tfjs webgpu backend on it the active one (our own
 * device, as src/gpu/backend.ts makes it) and returns undefined, or the one-line reason it could not.
 * Use it alone in a test file: it replaces navigator.gpu for the process.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownWebgpuDevice, type GpuAdapterLike, type WebgpuBackendClass } from '../../src/gpu/backend.js';

let outcome: Promise<string | undefined> | undefined;

export function nullWebgpu(): Promise<string | undefined> {
  outcome ??= (async () => {
    try {
      const webgpu = (await import('webgpu')) as unknown as { create: (o: string[]) => { requestAdapter: () => Promise<GpuAdapterLike | null> }; globals: object };
      Object.assign(globalThis, webgpu.globals);
      const gpu = webgpu.create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      const adapter = await gpu.requestAdapter();
      if (!adapter) throw new Error('no null adapter');
      const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as { WebGPUBackend: WebgpuBackendClass };
      await ownWebgpuDevice(adapter, WebGPUBackend, {});
      if (!(await tf.setBackend('webgpu'))) throw new Error('webgpu backend failed to initialise');
      return undefined;
    } catch (err) {
      const why = `native WGSL compile tests skipped: ${(err as Error).message}`;
      console.warn(why);
      return why;
    }
  })();
  return outcome;
}
