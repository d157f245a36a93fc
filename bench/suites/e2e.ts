/**
 * Suite e2e: `clusterkv e2e` (decode ms/token of a Llama-3-8B-shaped model, dense against ClusterKV, on the
 * WebGPU engine) with one fresh process per (context, batch), every one timing dense and ClusterKV at every
 * budget side by side. At size full about 2.5 minutes on the H200 for 3 processes of 6 configurations, of which
 * K-means at 32K x 8 sequences is ~11 s per process; the deadline (no process starts after 440 s) and the
 * per-process limit (100 s) keep a device call inside its 10 minutes.
 */
import { e2eKind } from '../../src/model/engine/e2e-merge.js';
import { E2E_DEFAULTS } from '../../src/model/engine/e2e-bench.js';
import { parseIntList } from '../../src/cli/parse.js';
import { nodeCommand, type BenchSize, type Suite } from '../suite.js';

/** Per size: contexts, batches and the rest of the flags (tiny and small: the tiny shape on the software adapter). */
const SIZES: Record<BenchSize, { contexts: string; batches: string; budgets: string; flags: string[] }> = {
  full: { contexts: E2E_DEFAULTS.contexts.join(','), batches: E2E_DEFAULTS.batches.join(','), budgets: E2E_DEFAULTS.budgets.join(','), flags: [] },
  small: { contexts: '512', batches: '1,2', budgets: '32', flags: ['--shape', 'tiny', '--steps', '6', '--warmup', '1', '--breakdown-steps', '1', '--ceiling-mb', '8', '--tokens-per-cluster', '20', '--iters', '3'] },
  tiny: { contexts: '200', batches: '2', budgets: '16', flags: ['--shape', 'tiny', '--steps', '4', '--warmup', '1', '--breakdown-steps', '0', '--ceiling-mb', '4', '--tokens-per-cluster', '20', '--iters', '2'] },
};

export const e2eSuite: Suite = {
  name: 'e2e',
  description: 'end-to-end decode ms/token of a Llama-3-8B-shaped model on WebGPU, dense against ClusterKV, one process per (context, batch) (clusterkv e2e)',
  processes: 3,
  backend: 'webgpu',
  kind: e2eKind,
  timeoutS: 100,
  deadlineS: 440,
  options: [
    ['--contexts <list>', 'prompt lengths (default per size: full 8192,16384,32768)'],
    ['--batches <list>', 'sequences decoded together (default per size: full 1,8)'],
    ['--budgets <list>', 'ClusterKV budgets B, all in each process (default per size: full 1024,2048)'],
    ['--e2e-flags <flags>', 'more `clusterkv e2e` flags, space separated (e.g. "--steps 32")'],
  ],
  jobs: (run) => {
    const size = SIZES[run.size];
    const contexts = parseIntList('--contexts', String(run.options.contexts ?? size.contexts), 1);
    const batches = parseIntList('--batches', String(run.options.batches ?? size.batches), 1);
    const budgets = String(run.options.budgets ?? size.budgets);
    const extra = String(run.options.e2eFlags ?? '').split(/\s+/).filter(Boolean);
    // contexts longest first: a run cut short by the deadline has the configurations that matter most
    return [...contexts].sort((a, b) => b - a).flatMap((T) =>
      [...batches].sort((a, b) => b - a).map((B) => ({ name: `e2e-${T}-${B}`, argv: nodeCommand('cli', ['e2e', '--backend', run.backend, '--contexts', String(T), '--batches', String(B), '--budgets', budgets, ...size.flags, ...extra, '--out', '{out}']) })),
    );
  },
};
