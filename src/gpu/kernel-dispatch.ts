/**
 * The one dispatcher of src/gpu: a kernel is declared once with its implementations (the tfjs op chain, the
 * WGSL kernel, and any later variant), each with the path it belongs to and a predicate over the inputs that
 * says when it fits; the public function (denseAttention, selectClusters, cosineKMeans, ...) is `kernel.run`.
 * No public function asks the backend or the kernel path itself. The kernel list (kernel-list.ts) holds every
 * declared kernel, so parity, bench and the tests see exactly the implementations that dispatch chooses from.
 *
 * Choice, per call: the first implementation, in declared order, whose path runs now (pathRuns: 'ops'
 * always; 'wgsl' on the webgpu backend unless CLUSTERKV_KERNELS=ops or withKernelPath('ops', ...) asks for
 * the op chain) and whose `fits` holds for these inputs (absent: always). The plain op chain comes last and
 * fits every input, so every input has an implementation on every backend (a kernel without an op chain,
 * such as the read ceiling, runs on webgpu only).
 *
 * Adding a variant, e.g. an f16 or subgroup WGSL kernel of the same computation: one more implementation,
 * placed before the one it should win over, with a `fits` that decides from the inputs and the device alone
 * (shapes, dtypes, device limits and features):
 *
 *   export const denseAttentionKernel = declareKernel<AttentionArgs, tf.Tensor2D>('dense-attention', [
 *     { name: 'wgsl-subgroup', path: 'wgsl', fits: (q, keys) => hasSubgroups() && subgroupAttentionFits(...), run: denseAttentionSubgroup },
 *     { name: 'wgsl', path: 'wgsl', fits: (q, keys) => attentionFits(...), run: denseAttentionWgsl },
 *     { name: 'ops', path: 'ops', run: denseAttentionOps },
 *   ]);
 *
 * Nothing else changes: the public function, the kernel list (its paths come from here), parity and bench.
 * Tests name the implementation that runs with `kernel.choose(...inputs).name`, and run one directly with
 * `kernel.implementation(name).run(...inputs)`.
 */
import { pathRuns, type KernelPath } from './kernel-path.js';

export interface KernelImplementation<A extends unknown[], R> {
  /** names it in tests and messages: 'ops', 'wgsl', or a variant's name ('wgsl-f16', 'wgsl-subgroup', ...) */
  name: string;
  /** the path it belongs to: 'ops' runs on every backend, 'wgsl' only where pathRuns('wgsl') */
  path: KernelPath;
  /** whether it handles these inputs on the active device (absent: every input) */
  fits?: (...args: A) => boolean;
  run: (...args: A) => R;
}

/** What the kernel list and the reports need of an implementation. */
export interface ImplementationInfo {
  name: string;
  path: KernelPath;
}

export interface DispatchedKernel<A extends unknown[], R> {
  /** the kernel list's name of this kernel ('dense-attention', 'select-clusters', ...) */
  readonly name: string;
  /** in order of preference; an op chain, where there is one, last */
  readonly implementations: readonly KernelImplementation<A, R>[];
  /** the implementation that runs for these inputs now */
  choose(...args: A): KernelImplementation<A, R>;
  /** runs the chosen implementation */
  run(...args: A): R;
  /** the implementation named `name` (tests and benchmarks run one directly) */
  implementation(name: string): KernelImplementation<A, R>;
}

const declared: DispatchedKernel<never, unknown>[] = [];

/**
 * Declares a kernel and its implementations (see the module comment for the order and the rules). A kernel
 * with an op chain ends with one that fits every input (op-chain variants with a `fits`, such as a
 * backend-specific formulation, may come before it); names must be distinct.
 */
export function declareKernel<A extends unknown[], R>(name: string, implementations: readonly KernelImplementation<A, R>[]): DispatchedKernel<A, R> {
  if (implementations.length === 0) throw new RangeError(`kernel '${name}' declares no implementation`);
  const names = implementations.map((i) => i.name);
  if (new Set(names).size !== names.length) throw new RangeError(`kernel '${name}' declares an implementation name twice (${names.join(', ')})`);
  const last = implementations[implementations.length - 1];
  if (implementations.some((i) => i.path === 'ops') && (last.path !== 'ops' || last.fits)) {
    throw new RangeError(`kernel '${name}': its op chain must be the last implementation and fit every input`);
  }
  const kernel: DispatchedKernel<A, R> = {
    name,
    implementations,
    choose(...args) {
      const chosen = implementations.find((i) => pathRuns(i.path) && (!i.fits || i.fits(...args)));
      if (!chosen) throw new Error(`kernel '${name}' has no implementation for these inputs here (it has ${names.join(', ')}; 'wgsl' runs on the webgpu backend only)`);
      return chosen;
    },
    run(...args) {
      return kernel.choose(...args).run(...args);
    },
    implementation(wanted) {
      const found = implementations.find((i) => i.name === wanted);
      if (!found) throw new RangeError(`kernel '${name}' has no implementation '${wanted}' (it has ${names.join(', ')})`);
      return found;
    },
  };
  declared.push(kernel as unknown as DispatchedKernel<never, unknown>);
  return kernel;
}

/** Every kernel declared so far, in declaration order (the kernel list's test checks that it holds them all). */
export function declaredKernels(): readonly DispatchedKernel<never, unknown>[] {
  return declared;
}
