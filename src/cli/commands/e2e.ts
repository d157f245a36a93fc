/**
 * `clusterkv e2e`: end-to-end decode speed of a Llama-3-8B-shaped model (seeded random weights made on the
 * GPU, or a checkpoint's with --model, f32 or f16; synthetic prompts with planted clusters) on WebGPU, dense
 * against ClusterKV, per context and batch (src/model/engine/e2e-bench.ts). Each (context, batch) runs in
 * turn; one that fails is recorded and the others still run. GPU runs give every configuration its own
 * process (bench/run.ts e2e).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { gpuAdapterInfo, useBackend } from '../../gpu/backend.js';
import { defaultGemvTuning, type GemvTuning } from '../../gpu/wgsl/engine/gemv.js';
import { E2E_DEFAULTS, runE2eBench } from '../../model/engine/e2e-bench.js';
import { e2eMarkdownTable, mergeE2eRuns } from '../../model/engine/e2e-merge.js';
import { e2eMergedSchema, e2eRunSchema, type E2eMerged, type E2eRun } from '../../model/engine/e2e-report.js';
import { loadEngineModel, resolveDType, type EngineModel } from '../../model/engine/engine-model.js';
import { LLAMA3_8B_SHAPE, engineShapeProblem, type EngineShape } from '../../model/engine/shape.js';
import { writeFileAtomic } from '../../sim/results-folder.js';
import { engineDTypeOptions, engineDTypes, type EngineDTypeFlags } from '../engine-flags.js';
import { UserError } from '../errors.js';
import { backendOption } from '../options.js';
import { count } from '../table.js';
import { parseIntFlag, parseIntList } from '../parse.js';

/** Shapes by name: the paper's scale, and a tiny one for checks on a software adapter. */
export const E2E_SHAPES: Record<string, EngineShape> = {
  'llama3-8b': LLAMA3_8B_SHAPE,
  tiny: { dim: 64, hiddenDim: 128, layers: 3, heads: 4, kvHeads: 2, headDim: 16, vocabSize: 256, ropeTheta: 10000, normEps: 1e-5 },
};

interface E2eFlags extends EngineDTypeFlags {
  model?: string;
  backend: string;
  contexts: string;
  batches: string;
  budgets: string;
  steps: string;
  warmup: string;
  rounds: string;
  breakdownSteps: string;
  seed: string;
  iters?: string;
  tokensPerCluster?: string;
  shape: string;
  layers?: string;
  gemv?: string;
  ceilingMb: string;
  out?: string;
}

function parseGemv(text: string): GemvTuning {
  const parts = parseIntList('--gemv', text, 1);
  if (parts.length !== 3) throw new UserError(`--gemv takes threadsPerRow,rowsPerThread,unroll (e.g. 64,4,2), got '${text}'`);
  const [threadsPerRow, rowsPerThread, unroll] = parts;
  if ((threadsPerRow & (threadsPerRow - 1)) !== 0 || threadsPerRow > 256) throw new UserError(`--gemv: threadsPerRow must be a power of two up to 256, got ${threadsPerRow}`);
  if (unroll > 8) throw new UserError(`--gemv: unroll must be 1..8, got ${unroll}`);
  return { threadsPerRow, rowsPerThread, unroll };
}

export function register(program: Command): void {
  const command = program
    .command('e2e')
    .description('end-to-end decode ms/token of a Llama-3-8B-shaped model on WebGPU: dense vs ClusterKV per context, batch and budget')
    .addOption(backendOption('webgpu'))
    .option('--contexts <list>', 'prompt lengths (positions in every KV cache)', E2E_DEFAULTS.contexts.join(','))
    .option('--batches <list>', 'sequences decoded together (1..8)', E2E_DEFAULTS.batches.join(','))
    .option('--budgets <list>', 'ClusterKV budgets B', E2E_DEFAULTS.budgets.join(','))
    .option('--steps <n>', 'timed decode steps per mode', String(E2E_DEFAULTS.steps))
    .option('--warmup <n>', 'warm-up steps per mode', String(E2E_DEFAULTS.warmup))
    .option('--rounds <n>', 'rounds the timed steps are split into, modes interleaved', String(E2E_DEFAULTS.rounds))
    .option('--breakdown-steps <n>', 'instrumented steps per mode (one timed pass per dispatch)', String(E2E_DEFAULTS.breakdownSteps))
    .option('--seed <n>', 'seed of the weights, prompts and K-means', String(E2E_DEFAULTS.seed))
    .option('--iters <n>', "K-means iterations (default: ClusterKV's)")
    .option('--tokens-per-cluster <n>', "prompt clusters C0 = ceil(L / this) (default: ClusterKV's); the prompt plants as many")
    .option('--shape <name>', `model shape: ${Object.keys(E2E_SHAPES).join(', ')}`, 'llama3-8b')
    .option('--layers <n>', 'override the layer count (quick partial-model runs)')
    .option('--gemv <tpr,r,u>', `GEMV work split: threads per row, rows per thread, unroll (default per batch: ${[1, 8].map((b) => { const t = defaultGemvTuning(b); return `batch ${b} ${t.threadsPerRow},${t.rowsPerThread},${t.unroll}`; }).join(', ')})`)
    .option('--ceiling-mb <n>', 'MiB read by the read-ceiling kernel', String(E2E_DEFAULTS.ceilingBytes / 2 ** 20))
    .option('--out <file.json>', 'write the JSON report here')
    .option('--model <path>', "a checkpoint's weights instead of random ones (llama2.c .bin or Hugging Face folder, e.g. `bench/run.ts random-checkpoint`'s); its shape replaces --shape");
  engineDTypeOptions(command)
    .action(async (flags: E2eFlags) => {
      const base = E2E_SHAPES[flags.shape];
      if (!base) throw new UserError(`--shape: unknown shape '${flags.shape}' (expected ${Object.keys(E2E_SHAPES).join(', ')})`);
      if (flags.model && flags.layers) throw new UserError('--layers changes a random shape; a --model has its own');
      const dtypes = engineDTypes(flags);
      let shape: EngineShape = { ...base, layers: flags.layers ? parseIntFlag('--layers', flags.layers, 1) : base.layers };
      const problem = engineShapeProblem(shape);
      if (problem) throw new UserError(`--shape: ${problem}`);
      const contexts = parseIntList('--contexts', flags.contexts, 1);
      const batches = parseIntList('--batches', flags.batches, 1);
      if (batches.some((b) => b > 8)) throw new UserError(`--batches: the engine decodes 1..8 sequences together, got ${flags.batches}`);
      const budgets = parseIntList('--budgets', flags.budgets, 1);
      const clusterkv: Record<string, number> = {};
      if (flags.iters !== undefined) clusterkv.iters = parseIntFlag('--iters', flags.iters, 0);
      if (flags.tokensPerCluster !== undefined) clusterkv.tokensPerCluster = parseIntFlag('--tokens-per-cluster', flags.tokensPerCluster, 1);
      const steps = parseIntFlag('--steps', flags.steps, 2);
      const rounds = parseIntFlag('--rounds', flags.rounds, 1);
      if (rounds > steps / 2) throw new UserError(`--rounds (${rounds}) must leave at least 2 steps per round (--steps ${steps})`);
      const common = {
        shape,
        budgets,
        steps,
        warmup: parseIntFlag('--warmup', flags.warmup, 0),
        rounds,
        breakdownSteps: parseIntFlag('--breakdown-steps', flags.breakdownSteps, 0),
        seed: parseIntFlag('--seed', flags.seed, 0),
        clusterkv,
        gemv: flags.gemv ? parseGemv(flags.gemv) : undefined,
        ceilingBytes: parseIntFlag('--ceiling-mb', flags.ceilingMb, 1) * 2 ** 20,
      };
      const backend = await useBackend(flags.backend);
      if (backend !== 'webgpu') throw new UserError(`e2e: the decode engine runs on webgpu only (backend '${backend}')`);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      log(`backend ${backend}, adapter ${JSON.stringify(gpuAdapterInfo() ?? {})}`);
      let model: EngineModel | undefined;
      if (flags.model) {
        model = await loadEngineModel(flags.model, { weights: dtypes.weights });
        shape = model.shape;
        log(`weights: ${model.weights.source}`);
      }
      // random weights: auto keeps the benchmark's f32; a checkpoint: its precision
      const storage = { weightsDtype: resolveDType(dtypes.weights, 'F32'), kvDtype: resolveDType(dtypes.kv, model?.stored ?? 'F32'), weights: model?.weights };
      const runs: E2eRun[] = [];
      const failures: E2eMerged['failures'] = [];
      const configurations = contexts.length * batches.length;
      for (const context of contexts) {
        for (const batch of batches) {
          try {
            const run = await runE2eBench({ ...common, ...storage, shape, context, batch }, log);
            // numbers that are not finite are times of work that did not run: a failure, not a row
            const checked = e2eRunSchema.safeParse(run);
            if (!checked.success) {
              const issue = checked.error.issues[0];
              throw new Error(`context ${context}, batch ${batch}: the run gave no valid times (${issue.path.join('.')}: ${issue.message})`);
            }
            runs.push(run);
          } catch (err) {
            const where = `context ${context}, batch ${batch}`;
            const reason = (err as Error).message.split('\n')[0].replace(`${where}: `, '');
            if (configurations === 1) throw new UserError(`e2e ${where}: ${reason}`);
            log(`clusterkv: e2e ${where} failed: ${reason}`);
            failures.push({ file: where, reason });
          }
        }
      }
      model?.dispose();
      if (runs.length === 0) throw new UserError(`e2e: all ${count(configurations, 'configuration')} failed (the lines above say why)`);
      const merged = e2eMergedSchema.parse(mergeE2eRuns(runs, failures, `one process: ${runs.length} configuration(s)`));
      console.log(e2eMarkdownTable(merged));
      if (flags.out) {
        writeFileAtomic(path.resolve(flags.out), `${JSON.stringify(merged, null, 2)}\n`);
        log(`wrote ${flags.out}`);
      }
      if (failures.length) process.exitCode = 1;
    });
}
