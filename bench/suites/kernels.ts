/**
 * Suites kernels and contexts: `clusterkv bench` in fresh processes.
 *   kernels   every kernel of the kernel list on both paths at the design's shape (docs/DESIGN.md#the-kernel-benchmark: T = 32K, H = 32, G = 8,
 *             d = 128, C0 = 400, B = 2048 and 1024), the copy and read ceilings and K-means; 30 samples
 *   contexts  dense attention and the ClusterKV step at 4K..128K, C0 = ceil(T / 80); 20 samples; one
 *             configuration (and process) per context
 * Both time K/V (and centroids) stored as f16 and as f32 side by side (--kv-dtype, default f16,f32: the f16
 * variants of the kernel list, '-f16', beside the f32 ones) and heat the GPU (--heat-ms) before each kernel and
 * every 10 samples on webgpu. Their runs merge into one file
 * (`bench/run.ts merge OUT.json RESULTS/kernels/*-[0-9].json RESULTS/contexts/*-[0-9].json`: the committed
 * kernels-webgpu-h200.json holds both).
 */
import { KV_DTYPES } from '../../src/gpu/half-tensor.js';
import { kernelBenchKind } from '../../src/sim/bench/bench-file.js';
import { parseIntFlag, parseIntList } from '../../src/cli/parse.js';
import { nodeCommand, type BenchSize, type Suite, type SuiteRun } from '../suite.js';

/** Shape flags of `clusterkv bench` per size (full: the CLI's defaults, docs/DESIGN.md#the-kernel-benchmark). */
const SHAPE: Record<BenchSize, string[]> = {
  full: [],
  small: ['--context', '2048', '--heads', '8', '--kv-heads', '2', '--head-dim', '64', '--clusters', '26', '--budgets', '256,128', '--iters', '3', '--kmeans-runs', '1'],
  tiny: ['--context', '512', '--heads', '4', '--kv-heads', '2', '--head-dim', '16', '--clusters', '8', '--budgets', '128,64', '--iters', '2', '--kmeans-runs', '1'],
};
/** Samples and warm-up runs per size: [main run, context sweep]. */
const SAMPLES: Record<BenchSize, [string[], string[]]> = {
  full: [['--runs', '30'], ['--runs', '20', '--warmup', '5']],
  small: [['--runs', '3', '--warmup', '1'], ['--runs', '3', '--warmup', '1']],
  tiny: [['--runs', '2', '--warmup', '1'], ['--runs', '2', '--warmup', '1']],
};
const CONTEXTS: Record<BenchSize, string> = { full: '4096,8192,16384,32768,65536,131072', small: '1024,4096', tiny: '256,512' };

/** K/V storage of both suites unless --kv-dtype says otherwise: every storage (f16 and f32) side by side. */
const ALL_KV = KV_DTYPES.join(',');
const kvOption: [string, string, string] = ['--kv-dtype <list>', `K/V and centroid storage timed: ${KV_DTYPES.join(', ')} or a list (clusterkv bench --kv-dtype)`, ALL_KV];

const runsOption: [string, string] = ['--runs <n>', 'timed samples per kernel (default per size: full 30 for kernels, 20 for contexts; small 3; tiny 2)'];

/** The samples flags of a size, with --runs in place of its count where given. */
function samples(run: SuiteRun, which: 0 | 1): string[] {
  const flags = [...SAMPLES[run.size][which]];
  if (run.options.runs !== undefined) flags[flags.indexOf('--runs') + 1] = String(parseIntFlag('--runs', String(run.options.runs), 1));
  return flags;
}

/** Paths timed unless --paths says otherwise: every one (a short call may take only wgsl: the op chains are the slow part). */
const pathsOption: [string, string] = ['--paths <list>', 'paths to time: ops, wgsl (clusterkv bench --paths; default every path)'];

const bench = (run: SuiteRun, args: string[]) =>
  nodeCommand('cli', ['bench', '--backend', run.backend, '--heat-ms', String(run.heatMs), '--kv-dtype', String(run.options.kvDtype ?? ALL_KV), ...(run.options.paths !== undefined ? ['--paths', String(run.options.paths)] : []), ...SHAPE[run.size], ...args, '--out', '{out}']);

export const kernelsSuite: Suite = {
  name: 'kernels',
  description: "every kernel of the kernel list on every path (op chains; WGSL on webgpu) at the design's shape (docs/DESIGN.md#the-kernel-benchmark), the copy and read ceilings and K-means (clusterkv bench)",
  processes: 3,
  backend: 'webgpu',
  kind: kernelBenchKind,
  heats: true,
  timeoutS: 150,
  options: [kvOption, pathsOption, runsOption],
  jobs: (run) => [{ name: 'main', argv: bench(run, samples(run, 0)) }],
};

export const contextsSuite: Suite = {
  name: 'contexts',
  description: 'the context sweep: dense attention and the ClusterKV step per context, C0 = ceil(T / 80), one process per context (clusterkv bench --contexts)',
  processes: 3,
  backend: 'webgpu',
  kind: kernelBenchKind,
  heats: true,
  timeoutS: 75,
  options: [['--contexts <list>', 'contexts T of the sweep (default per size: full 4096..131072, small 1024,4096, tiny 256,512)'], kvOption, pathsOption, runsOption],
  jobs: (run) => {
    const contexts = parseIntList('--contexts', String(run.options.contexts ?? CONTEXTS[run.size]), 1);
    return contexts.map((T) => ({ name: `context-${T}`, argv: bench(run, [...samples(run, 1), '--no-main', '--contexts', String(T)]) }));
  },
};
