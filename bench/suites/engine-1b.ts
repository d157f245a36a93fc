/**
 * Suite engine-1b: issue 20's second target, a Llama-3.2-1B-shaped F16 checkpoint at 32K on the WebGPU engine
 * against its decode bytes bound. Before the processes, once: the random checkpoint of that shape
 * (src/model/random-checkpoint.ts: a Hugging Face folder with seeded weights, 2.5 GB at F16) is written to
 * --work unless it is there, and `clusterkv doctor --model` at the context says whether it fits and its
 * bytes bound (doctor.json). Each process is `clusterkv e2e --model DIR` at the context, one sequence, dense
 * and ClusterKV at each budget: ms/token, the share of the read ceiling measured in the same process (dense:
 * the target is >= 80% of the bound), and ClusterKV's speed-up against the bytes bound's (target >= 85%).
 * The e2e merge joins them (src/model/engine/e2e-merge.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { e2eKind } from '../../src/model/engine/e2e-merge.js';
import type { E2eMerged } from '../../src/model/engine/e2e-report.js';
import type { ModelFit } from '../../src/model/engine/model-fit.js';
import { writeRandomCheckpoint } from '../../src/model/random-checkpoint.js';
import { parseIntFlag } from '../../src/cli/parse.js';
import { nodeCommand, runToFile, type BenchSize, type Suite, type SuiteRun } from '../suite.js';

/** Per size: the checkpoint (layers, vocabulary: full the shape's own), the context, budgets and e2e flags. */
const SIZES: Record<BenchSize, { layers?: number; vocab?: number; context: number; budgets: string; flags: string[] }> = {
  full: { context: 32768, budgets: '1024', flags: [] },
  small: { layers: 2, vocab: 300, context: 1024, budgets: '64', flags: ['--steps', '6', '--warmup', '1', '--breakdown-steps', '1', '--ceiling-mb', '8'] },
  tiny: { layers: 3, vocab: 300, context: 256, budgets: '32', flags: ['--steps', '4', '--warmup', '1', '--breakdown-steps', '0', '--ceiling-mb', '4', '--iters', '2'] },
};

/** The checkpoint's folder under --work: one per shape, layers and vocabulary (a folder there is that checkpoint). */
function checkpointDir(run: SuiteRun): string {
  const work = String(run.options.work ?? path.join(os.tmpdir(), 'ckv-random-checkpoints'));
  const { layers, vocab } = SIZES[run.size];
  return path.resolve(work, `${String(run.options.shape)}${layers ? `-${layers}-layers` : ''}${vocab ? `-vocab-${vocab}` : ''}`);
}

function contextOf(run: SuiteRun): number {
  return run.options.context === undefined ? SIZES[run.size].context : parseIntFlag('--context', String(run.options.context), 1);
}

export const engine1bSuite: Suite = {
  name: 'engine-1b',
  description: 'a Llama-3.2-1B-shaped F16 random checkpoint on the WebGPU engine at 32K: doctor --model, then e2e --model (dense and ClusterKV) against its bytes bound, per fresh process',
  processes: 3,
  backend: 'webgpu',
  kind: e2eKind,
  timeoutS: 150,
  options: [
    ['--shape <name>', 'the random checkpoint\'s shape (src/model/random-checkpoint.ts)', 'llama-3.2-1b'],
    ['--work <dir>', 'where the checkpoint is written once (default: the system temp folder)'],
    ['--context <n>', 'positions in the cache (default per size: full 32768, small 1024, tiny 256)'],
    ['--budgets <list>', 'ClusterKV budgets (default per size: full 1024)'],
    ['--e2e-flags <flags>', 'more `clusterkv e2e` flags, space separated'],
  ],
  prepare: async (run, log) => {
    const dir = checkpointDir(run);
    const size = SIZES[run.size];
    if (!existsSync(path.join(dir, 'config.json'))) {
      const t0 = performance.now();
      const r = writeRandomCheckpoint(dir, { shape: String(run.options.shape), dtype: 'F16', seed: 0, layers: size.layers, vocab: size.vocab });
      log(`wrote ${dir}: ${run.options.shape}, ${(r.parameters / 1e9).toFixed(3)}B parameters, ${(r.bytes / 1e9).toFixed(2)} GB F16 in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } else log(`${dir}: the checkpoint is there`);
    const budget = String(run.options.budgets ?? size.budgets).split(',')[0];
    const file = path.join(run.out, 'doctor.json');
    runToFile('doctor --model', nodeCommand('cli', ['doctor', '--model', dir, '--context', String(contextOf(run)), '--budget', budget, '--json']), file, 120);
    log(`doctor --model at ${contextOf(run)} positions -> ${file}`);
  },
  after: (run, _usable, log, mergedFile) => {
    // the bound doctor computed (bytes per step over its read ceiling) beside what the processes measured
    const fit = (JSON.parse(readFileSync(path.join(run.out, 'doctor.json'), 'utf8')) as { modelFit: ModelFit }).modelFit;
    const merged = JSON.parse(readFileSync(mergedFile, 'utf8')) as E2eMerged;
    for (const r of merged.rows) {
      const bound = r.attention === 'dense' ? fit.dense : fit.clusterkv;
      const tps = 1000 / r.msPerToken.median;
      log(`${r.attention}${r.budget === null ? '' : ` B=${r.budget}`}: ${tps.toFixed(1)} tokens/s measured, bytes bound ${bound.tokensPerSecond.toFixed(1)} tokens/s at ${fit.ceiling.GBps.toFixed(0)} GB/s (${fit.ceiling.source}): ${((100 * tps) / bound.tokensPerSecond).toFixed(0)}%; of the read ceiling measured in the processes: ${r.ofReadCeiling === null ? '-' : `${(100 * r.ofReadCeiling).toFixed(0)}%`}`);
    }
  },
  jobs: (run) => {
    const size = SIZES[run.size];
    const T = contextOf(run);
    const extra = String(run.options.e2eFlags ?? '').split(/\s+/).filter(Boolean);
    return [{ name: `e2e-${T}-1`, argv: nodeCommand('cli', ['e2e', '--backend', run.backend, '--model', checkpointDir(run), '--contexts', String(T), '--batches', '1', '--budgets', String(run.options.budgets ?? size.budgets), ...size.flags, ...extra, '--out', '{out}']) }];
  },
};
