/// <reference types="@webgpu/types" />
/**
 * What the active GPUDevice can do for the WGSL kernels: the optional features our own device was created
 * with (backend.ts asks for every one the adapter offers) and the adapter's subgroup sizes. Kernels read it to
 * pick an implementation (each keeps a path for devices without the feature) and to size their shaders.
 *
 * subgroupTuning (read-only; withTuning from tuning.ts changes it for a run, like every knob object):
 *   enabled  false: run as if the device had no subgroups, so dispatch picks the older kernels (A/B timings,
 *            the tune suite's 'older kernels'); env CLUSTERKV_SUBGROUPS=off starts a process with it false
 *   emulate  tests: n > 0 builds the subgroup kernels with their subgroup operations carried through workgroup
 *            memory and barriers, with subgroups of n invocations, so that the software adapter (no
 *            'subgroups') runs the same kernel text in CI; env CLUSTERKV_SUBGROUP_EMULATION=n starts a process
 *            with it (parity of the subgroup kernels on the software adapter). Never a timing path.
 */
import { webgpuBackend } from './runtime.js';
import { tunable } from './tuning.js';

/** The optional features the kernels can use (backend.ts requests each one the adapter offers). */
export const KERNEL_FEATURES = ['shader-f16', 'subgroups', 'subgroup-size-control', 'timestamp-query'] as const;
export type KernelFeature = (typeof KERNEL_FEATURES)[number];

/**
 * Features left off our device although the adapter offers them: env CLUSTERKV_FEATURES_OFF, comma-separated
 * names of KERNEL_FEATURES (e.g. shader-f16), so that every kernel's path for adapters without a feature can
 * be run, and timed or compared, on hardware that has it. An unknown name is an error naming the known ones.
 */
export function featuresTurnedOff(env = process.env.CLUSTERKV_FEATURES_OFF): KernelFeature[] {
  const names = (env ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  for (const n of names) if (!(KERNEL_FEATURES as readonly string[]).includes(n)) throw new RangeError(`CLUSTERKV_FEATURES_OFF: unknown feature '${n}' (known: ${KERNEL_FEATURES.join(', ')})`);
  return names as KernelFeature[];
}

export interface SubgroupSizes {
  min: number;
  max: number;
}

const subgroupSizes = new WeakMap<GPUDevice, SubgroupSizes>();

/** Records the adapter's subgroup sizes for `device` (backend.ts, when it creates the device). */
export function registerSubgroupSizes(device: GPUDevice, sizes: SubgroupSizes | undefined): void {
  if (sizes) subgroupSizes.set(device, sizes);
}

export function hasFeature(feature: KernelFeature): boolean {
  return webgpuBackend().device.features.has(feature);
}

/** Whether the subgroup kernels run, and their emulation in tests (see the module comment). */
export const subgroupTuning = tunable({
  enabled: process.env.CLUSTERKV_SUBGROUPS !== 'off',
  emulate: process.env.CLUSTERKV_SUBGROUP_EMULATION ? Number(process.env.CLUSTERKV_SUBGROUP_EMULATION) : 0,
});

/** The emulated subgroup size, or undefined (off); a size that is not a power of two is an error. */
function emulatedSize(): number | undefined {
  const size = subgroupTuning.emulate;
  if (size === 0) return undefined;
  if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new RangeError(`subgroup emulation size (subgroupTuning.emulate, env CLUSTERKV_SUBGROUP_EMULATION) must be a power of two, got ${size}`);
  return size;
}

/** How subgroup kernels are built on the active device: native, emulated (tests), or not at all. */
export type SubgroupMode = { kind: 'native'; size: number; sizeControl: boolean } | { kind: 'emulated'; size: number };

/**
 * The subgroup mode, or undefined when the device has no 'subgroups' or its subgroup size is not fixed
 * (the kernels are generated for one size: min = max, or 'subgroup-size-control' to ask for one).
 */
export function subgroupMode(): SubgroupMode | undefined {
  if (!subgroupTuning.enabled) return undefined;
  const size = emulatedSize();
  if (size !== undefined) return { kind: 'emulated', size };
  if (!hasFeature('subgroups')) return undefined;
  const sizes = subgroupSizes.get(webgpuBackend().device);
  if (!sizes) return undefined;
  const sizeControl = hasFeature('subgroup-size-control');
  if (sizes.min === sizes.max) return { kind: 'native', size: sizes.min, sizeControl };
  // with size control a kernel fixes its subgroup size (@subgroup_size): take the largest, up to 32
  if (sizeControl) return { kind: 'native', size: Math.min(sizes.max, Math.max(sizes.min, 32)), sizeControl };
  return undefined;
}
