#!/usr/bin/env node
/**
 * The benchmark driver: every GPU host step is one suite, run as
 *   bench/run.ts SUITE [--processes 3] [--size full|small|tiny] [--out RESULTS] [--tar FILE] [suite options]
 * (development: `npx tsx bench/run.ts ...`; GPU host: `node .gpu-build/bench/run.js ...` after
 * `npm run build:gpu`). Suites: kernels, contexts, e2e, model, torch, tune, and the model runtime's engine,
 * engine-1b and passkey (bench/suites/). Each runs
 * its configurations in fresh processes, checks every run's JSON against its kind's schema and merges the
 * usable runs into RESULTS/SUITE/SUITE.json (bench/suite.ts). Besides the suites:
 *   merge OUT.json RUN.json...      the one merge (src/sim/bench/merge-runs.ts) of run files of one kind
 *   once WHAT ...                   one process of a suite (what the runner starts): model-check, engine, passkey, tune, gemv
 *   random-checkpoint --shape S --out DIR   a Hugging Face folder of a real model's shape with seeded random weights
 *   tables [KERNELS] [TORCH]        the tables of bench/README.md from the committed results
 *   card                            the card's short name in result files (h100, h200; 'none' without a GPU)
 *   compare-models REF OTHER        two model-check runs of two backends: same ids, or a divergence rounding explains
 *   compare-passkey EVAL...         eval passkey folders (the passkey suite's, from a GPU) against the CPU study's tables
 *   compare-sweeps A B              two sweeps' results.csv: integer columns equal, floats within 1e-4
 *   digest TRACE OUT | digest --compare A B   a comparable digest of a trace (captures too large to move)
 *   sweep-throughput                the sweep on 1 and N workers (bench/sweep-throughput.md)
 * Bad input prints one line `clusterkv: ...` and exits 1 (2 for a comparison that finds a difference: 1).
 */
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { describeError } from '../src/cli/errors.js';
import { parseDTypeFlag } from '../src/cli/engine-flags.js';
import { parseIntFlag } from '../src/cli/parse.js';
import type { DTypeChoice } from '../src/model/engine/engine-model.js';
import { RANDOM_CHECKPOINT_SHAPES, writeRandomCheckpoint, type CheckpointDType } from '../src/model/random-checkpoint.js';
import { mergeRunFiles, RunFileError } from '../src/sim/bench/merge-runs.js';
import { writeFileAtomic } from '../src/sim/results-folder.js';
import { RUN_KINDS } from './run-kinds.js';
import { BENCH_SIZES, cardName, DEFAULT_HEAT_MS, runSuite, type BenchSize, type Suite } from './suite.js';
import { e2eSuite } from './suites/e2e.js';
import { ENGINE_SIZES, engineOnce, engineSuite } from './suites/engine.js';
import { engine1bSuite } from './suites/engine-1b.js';
import { contextsSuite, kernelsSuite } from './suites/kernels.js';
import { MODEL_CHECK_SIZES, compareModelFiles, modelCheckOnce, modelSuite } from './suites/model.js';
import { PREFILL_CHUNK } from '../src/model/engine/prefill.js';
import { evalRows, PASSKEY_SIZES, passkeyComparison, passkeyOnce, passkeyOptionsFromFlags, passkeySuite } from './suites/passkey.js';
import { torchSuite } from './suites/torch.js';
import { tuneSuite } from './suites/tune.js';
import { DEFAULT_GEMV_MODEL, DEFAULT_GEMV_SPLITS, GEMV_MODELS, gemvTuningOnce } from './suites/tune-gemv.js';
import type { StorageDType } from '../src/gpu/wgsl/engine/storage-dtype.js';
import { TUNE_SETS, tuneKernelsOnce, type TuneSet } from './suites/tune-kernels.js';
import { compareSweeps } from './tools/compare-sweeps.js';
import { printResultsTables } from './tools/results-tables.js';
import { sweepThroughput } from './tools/sweep-throughput.js';
import { compareDigestFiles, writeDigest } from './tools/trace-digest.js';

const SUITES: readonly Suite[] = [kernelsSuite, contextsSuite, e2eSuite, modelSuite, engineSuite, engine1bSuite, passkeySuite, torchSuite, tuneSuite];

/** Progress goes to stderr; stdout keeps what a command prints as its result. */
const log = (line: string) => process.stderr.write(`${line}\n`);

const sizeOption = () => new Option('--size <size>', 'full: the GPU host\'s shapes; small: a dry run of the same steps; tiny: seconds (tests)').choices(BENCH_SIZES).default('full');

function writeJson(file: string, value: unknown): void {
  writeFileAtomic(path.resolve(file), `${JSON.stringify(value, null, 2)}\n`);
}

function addSuite(program: Command, suite: Suite): void {
  const cmd = program
    .command(suite.name)
    .description(suite.description)
    .option('--processes <n>', 'fresh processes per configuration', String(suite.processes))
    .addOption(sizeOption())
    .option('--out <dir>', `results folder: the suite writes its runs, logs and merged file into DIR/${suite.name}${suite.label ? '-<set>' : ''}/`, 'runs/bench')
    .option('--tar <file>', 'pack the results folder into this tar after every process (a device call returns few files)')
    .option('--timeout-s <n>', `kill a process after this many seconds (default at size full: ${suite.timeoutS ?? 'none'}; else none)`)
    .option('--deadline-s <n>', `start no process after this many seconds (default at size full: ${suite.deadlineS ?? 'none'}; else none)`);
  if (suite.backend !== undefined) cmd.option('--backend <name>', 'tfjs backend of the processes', suite.backend);
  if (suite.heats) cmd.option('--heat-ms <n>', `webgpu: keep the GPU busy this long before each kernel and every 10 samples (bench/README.md, the H200's clocks; default ${DEFAULT_HEAT_MS} on webgpu, else 0)`);
  for (const [flags, description, fallback] of suite.options ?? []) cmd.option(flags, description, fallback);
  cmd.action(async (flags: Record<string, string | boolean | undefined>) => {
    const size = flags.size as BenchSize;
    const backend = String(flags.backend ?? '');
    const onWebgpu = backend === 'webgpu' || (suite.backend === undefined && suite.heats);
    const heatMs = flags.heatMs !== undefined ? parseIntFlag('--heat-ms', String(flags.heatMs), 0) : suite.heats && onWebgpu ? DEFAULT_HEAT_MS : 0;
    const limit = (flag: string, value: unknown, fallback: number | undefined) => (value !== undefined ? parseIntFlag(flag, String(value), 1) : size === 'full' ? fallback : undefined);
    const results = path.resolve(String(flags.out));
    const own = Object.fromEntries((suite.options ?? []).map(([f]) => {
      const key = f.split(' ')[0].replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      return [key, flags[key]];
    }));
    const merged = await runSuite(suite, { out: path.join(results, suite.label?.(own) ?? suite.name), size, backend, heatMs, options: own }, {
      processes: parseIntFlag('--processes', String(flags.processes), 1),
      results,
      timeoutS: limit('--timeout-s', flags.timeoutS, suite.timeoutS),
      deadlineS: limit('--deadline-s', flags.deadlineS, suite.deadlineS),
      tar: flags.tar as string | undefined,
      log,
      argv: process.argv.slice(2),
    });
    if (!merged) process.exitCode = 1;
  });
}

/** The options the once commands of a real model share (model-check, engine), with their defaults. */
function modelRunOptions(cmd: Command, d: { backend: string; model: string; tokenizer: string; context: number; steps: number; budget: number }, help: { steps: string; kv: string }): Command {
  return cmd
    .option('--backend <name>', 'tfjs backend', d.backend)
    .option('--model <dir|file>', 'the model', d.model)
    .option('--tokenizer <file>', 'its tokenizer', d.tokenizer)
    .option('--context <n>', 'prompt tokens', String(d.context))
    .option('--steps <n>', help.steps, String(d.steps))
    .option('--budget <n>', 'ClusterKV budget B', String(d.budget))
    .option('--kv-dtype <auto|f32|f16>', help.kv, 'auto')
    .requiredOption('--out <file.json>', "the run's JSON");
}

/** The shared options parsed (modelRunOptions). */
function modelRunFlags(f: Record<string, string>): { backend: string; model: string; tokenizer: string; context: number; budget: number; kv: DTypeChoice } {
  return { backend: f.backend, model: f.model, tokenizer: f.tokenizer, context: parseIntFlag('--context', f.context, 1), budget: parseIntFlag('--budget', f.budget, 1), kv: parseDTypeFlag('--kv-dtype', f.kvDtype) };
}

function addOnce(program: Command): void {
  const once = program.command('once').description('one process of a suite (what the fresh-process runner starts)');
  const modelCheck = once.command('model-check').description('a real model on one backend: dense and ClusterKV greedy ids with their top-1/top-2 gaps, prefill and decode tok/s');
  modelRunOptions(modelCheck, { ...MODEL_CHECK_SIZES.full, backend: 'wasm' }, { steps: 'generated tokens', kv: "webgpu: the engine's KV cache" })
    .action(async (f: Record<string, string>) => {
      writeJson(f.out, await modelCheckOnce({ ...modelRunFlags(f), steps: parseIntFlag('--steps', f.steps, 1) }, log));
    });
  const engine = once.command('engine').description('a real model on the WebGPU engine: dense and ClusterKV prefill and decode tok/s, and the f32-KV model check');
  modelRunOptions(engine, { ...ENGINE_SIZES.full, backend: 'webgpu' }, { steps: 'decoded tokens per mode', kv: "the modes' KV cache" })
    .option('--check-steps <n>', "the f32-KV check's tokens", String(ENGINE_SIZES.full.checkSteps))
    .option('--prefill-chunk <n>', "the modes' prompt rows per prefill chunk", String(PREFILL_CHUNK))
    .action(async (f: Record<string, string>) => {
      writeJson(f.out, await engineOnce({ ...modelRunFlags(f), steps: parseIntFlag('--steps', f.steps, 1), checkSteps: parseIntFlag('--check-steps', f.checkSteps, 1), prefillChunk: parseIntFlag('--prefill-chunk', f.prefillChunk, 1) }, log));
    });
  const passkeySizes = PASSKEY_SIZES.full;
  once
    .command('passkey')
    .description('one context of the eval passkey grid (its eval folder beside the run file): wall time, accuracies against the CPU study')
    .option('--backend <name>', 'tfjs backend', 'webgpu')
    .option('--model <dir|file>', 'the passkey model', passkeySizes.model)
    .option('--tokenizer <file>', 'its tokenizer', passkeySizes.tokenizer)
    .requiredOption('--context <n>', 'document length')
    .option('--depths <list>', 'needle depths', passkeySizes.depths)
    .option('--keys <n>', 'keys per depth', String(passkeySizes.keys))
    .option('--methods <list>', 'methods', passkeySizes.methods)
    .option('--budgets <list>', 'budgets', passkeySizes.budgets)
    .option('--kv-dtype <auto|f32|f16>', "the engine's KV cache", 'f32')
    .option('--tables <file.md>', "the CPU study's tables", 'study/passkey-tables.md')
    .option('--reference <dir>', 'an eval folder to compare answers with')
    .requiredOption('--out <file.json>', 'the run\'s JSON')
    .action(async (f: Record<string, string>) => {
      writeJson(f.out, await passkeyOnce(passkeyOptionsFromFlags(f), log));
    });
  once
    .command('tune')
    .description('the WGSL kernels\' tuning variants on webgpu')
    .addOption(new Option('--set <name>', TUNE_SETS.join(', ')).choices(TUNE_SETS).default('attention'))
    .option('--heat-ms <n>', 'heat the GPU before every 10 samples', '0')
    .addOption(sizeOption())
    .requiredOption('--out <file.json>', 'the run\'s JSON')
    .action(async (f: Record<string, string>) => {
      writeJson(f.out, await tuneKernelsOnce(f.set as TuneSet, parseIntFlag('--heat-ms', f.heatMs, 0), f.size !== 'full', log));
    });
  once
    .command('gemv')
    .description('the end-to-end engine\'s GEMV work splits on webgpu, batch 1 and 8')
    .option('--splits <list>', 'splits threadsPerRow,rowsPerThread,unroll separated by spaces', DEFAULT_GEMV_SPLITS.join(' '))
    .addOption(new Option('--model-shape <name>', 'the model whose decode-step products are timed').choices(GEMV_MODELS).default(DEFAULT_GEMV_MODEL))
    .addOption(new Option('--weights <dtype>', 'how the weights are stored').choices(['f32', 'f16']).default('f32'))
    .requiredOption('--out <file.json>', 'the run\'s JSON')
    .action(async (f: Record<string, string>) => {
      const splits = f.splits.split(/\s+/).filter(Boolean).map((s) => {
        const parts = s.split(',').map((x) => parseIntFlag('--splits', x, 1));
        if (parts.length !== 3) throw new RangeError(`--splits: each split is threadsPerRow,rowsPerThread,unroll, got '${s}'`);
        return { threadsPerRow: parts[0], rowsPerThread: parts[1], unroll: parts[2] };
      });
      writeJson(f.out, await gemvTuningOnce(splits, log, f.modelShape, f.weights as StorageDType));
    });
}

function addTools(program: Command): void {
  program
    .command('random-checkpoint')
    .description("a Hugging Face folder of a real model's shape with seeded random weights, safetensors + config.json + a byte-level tokenizer.json (src/model/random-checkpoint.ts; no download)")
    .addOption(new Option('--shape <name>', 'the shape').choices(Object.keys(RANDOM_CHECKPOINT_SHAPES)).makeOptionMandatory())
    .requiredOption('--out <dir>', 'the folder')
    .addOption(new Option('--dtype <dtype>', 'stored precision').choices(['F16', 'BF16', 'F32']).default('F16'))
    .option('--seed <n>', 'seed of the weights', '0')
    .option('--layers <n>', 'fewer layers than the shape\'s')
    .option('--vocab <n>', 'a smaller vocabulary')
    .option('--shard-gb <n>', 'GB per safetensors file', '4')
    .action((f: Record<string, string>) => {
      const t0 = performance.now();
      let shown = -1;
      const r = writeRandomCheckpoint(f.out, {
        shape: f.shape,
        dtype: f.dtype as CheckpointDType,
        seed: parseIntFlag('--seed', f.seed, 0),
        layers: f.layers === undefined ? undefined : parseIntFlag('--layers', f.layers, 1),
        vocab: f.vocab === undefined ? undefined : parseIntFlag('--vocab', f.vocab, 1),
        shardBytes: Number(f.shardGb) * 1e9,
        progress: (done, total) => {
          const pct = Math.floor((100 * done) / total);
          if (pct >= shown + 10) log(`${(shown = pct)}% of ${(total / 1e9).toFixed(2)} GB`);
        },
      });
      console.log(`${r.dir}: ${f.shape}, ${(r.parameters / 1e9).toFixed(3)}B parameters, ${(r.bytes / 1e9).toFixed(2)} GB ${f.dtype} in ${r.files.length} file(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  program
    .command('merge')
    .description('merge run files of one kind made in fresh processes (medians over processes, each process\'s value kept; every file checked against its schema)')
    .argument('<out.json>', 'the merged file')
    .argument('<run.json...>', 'the runs')
    .action((out: string, files: string[]) => {
      const { merged, summary } = mergeRunFiles(files, RUN_KINDS);
      writeJson(out, merged);
      console.log(summary);
    });
  program
    .command('tables')
    .description('the tables of bench/README.md from the committed results')
    .argument('[kernels.json]', 'a merged kernel-bench file', 'bench/results/kernels-webgpu-h200.json')
    .argument('[torch.json]', 'a merged PyTorch file', 'bench/results/torch-reference-h200.json')
    .action((kernels: string, torch: string) => printResultsTables(kernels, torch));
  program
    .command('card')
    .description('the card\'s short name in result files, as the suites name their merged files (env CLUSTERKV_CARD, else nvidia-smi; \'none\' without a GPU)')
    .action(() => console.log(cardName() ?? 'none'));
  program
    .command('compare-models')
    .description('two model-check runs of two backends: the same ids, or the first divergence and whether float rounding explains it (exit 1 when not)')
    .argument('<reference.json>')
    .argument('<other.json>')
    .option('--tolerance <gap>', 'a divergence counts as rounding where the reference top-1/top-2 gap is below this', '0.01')
    .option('--out <file.json>', 'write the comparison here')
    .action((reference: string, other: string, f: { tolerance: string; out?: string }) => {
      const { clear, lines } = compareModelFiles(reference, other, Number(f.tolerance), f.out);
      for (const line of lines) console.log(line);
      process.exitCode = clear ? 1 : 0;
    });
  program
    .command('compare-passkey')
    .description("eval passkey folders (e.g. the passkey suite's passkey-C-1-eval/ from a GPU run) against the CPU study's tables, and with --reference against another folder's answers (exit 1 when an accuracy or answer differs)")
    .argument('<eval-dir...>', 'eval folders')
    .option('--tables <file.md>', "the CPU study's tables", 'study/passkey-tables.md')
    .option('--reference <dir>', 'an eval folder of the same documents made on another runtime')
    .action((dirs: string[], f: { tables: string; reference?: string }) => {
      let differ = 0;
      for (const dir of dirs) {
        const { accuracies, answers } = passkeyComparison(evalRows(dir), f.tables, f.reference);
        const judged = accuracies.filter((a) => a.equal !== null);
        const off = judged.filter((a) => !a.equal);
        differ += off.length + (answers ? answers.compared - answers.sameAnswers : 0);
        console.log(`${dir}: ${judged.length - off.length} of ${judged.length} accuracies equal ${f.tables}'s (${accuracies.length - judged.length} not in it)${answers ? `; ${answers.sameAnswers} of ${answers.compared} answers equal ${f.reference}'s` : ''}`);
        for (const a of off) console.log(`  context ${a.context} ${a.method}${a.budget === null ? '' : ` B=${a.budget}`}: ${a.accuracy.toFixed(3)}, study ${a.study!.toFixed(3)}`);
        for (const d of answers?.differing ?? []) console.log(`  ${d.document} ${d.cell}: ${JSON.stringify(d.generated)}, reference ${JSON.stringify(d.reference)}`);
      }
      process.exitCode = differ ? 1 : 0;
    });
  program
    .command('compare-sweeps')
    .description('the same trace swept on two backends: integer columns equal, float metrics within 1e-4 (exit 1 on a mismatch)')
    .argument('<a.csv>', 'results.csv of one sweep')
    .argument('<b.csv>', 'results.csv of the other')
    .option('--out <file.json>', 'write the report here')
    .action((a: string, b: string, f: { out?: string }) => {
      process.exitCode = compareSweeps(a, b, f.out);
    });
  program
    .command('digest')
    .description('a comparable digest of a trace (per tensor size, sum, L2 norm, every k-th value), or --compare two digests (exit 1 beyond the tolerance)')
    .argument('<a>', 'the trace (or with --compare: a digest)')
    .argument('<b>', 'the digest to write (or with --compare: the other digest)')
    .option('--compare', 'compare two digests')
    .option('--tolerance <t>', 'worst relative difference allowed', '1e-3')
    .action(async (a: string, b: string, f: { compare?: boolean; tolerance: string }) => {
      if (f.compare) process.exitCode = compareDigestFiles(a, b, Number(f.tolerance)) ? 0 : 1;
      else await writeDigest(a, b);
    });
  program
    .command('sweep-throughput')
    .description('the same sweep on 1 and N local workers (and through a BullMQ queue), fresh `clusterkv sweep` processes (bench/sweep-throughput.md)')
    .option('--grid <list>', 'quickstart, ckv8k, ckv16k', 'quickstart,ckv8k,ckv16k')
    .option('--trace8k <file>', 'the 8K capture of ckvlab-9m-16k (default /tmp/ckv8k.safetensors)')
    .option('--trace16k <file>', 'the 16K capture (default /tmp/ckv16k.safetensors)')
    .option('--jobs <n>', 'workers of the parallel runs', '2')
    .option('--queue <url>', 'also run through BullMQ workers on this Redis')
    .option('--out <file.json>', 'write the report here')
    .action(async (f: { grid: string; trace8k?: string; trace16k?: string; jobs: string; queue?: string; out?: string }) => {
      await sweepThroughput({ grids: f.grid.split(',').map((g) => g.trim()).filter(Boolean), trace8k: f.trace8k, trace16k: f.trace16k, jobs: parseIntFlag('--jobs', f.jobs, 1), queue: f.queue, out: f.out });
    });
}

function benchProgram(): Command {
  const program = new Command('bench/run.ts')
    .description('ClusterKV Lab benchmarks: suites run in fresh processes and merged, and the tools around them (bench/README.md)')
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  for (const suite of SUITES) addSuite(program, suite);
  addOnce(program);
  addTools(program);
  return program;
}

/** Runs the driver on argv; resolves to the exit code (one line `clusterkv: ...` for bad input). */
async function runBench(argv: string[]): Promise<number> {
  try {
    await benchProgram().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return 1;
      const command = argv[0] !== undefined && benchProgram().commands.some((c) => c.name() === argv[0]) ? ` ${argv[0]}` : '';
      process.stderr.write(`clusterkv: ${err.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ')} (see bench/run.ts${command} --help)\n`);
      return 1;
    }
    if (err instanceof RunFileError) {
      process.stderr.write(`clusterkv: ${err.message}\n`);
      return 1;
    }
    const { line, exitCode } = describeError(err);
    process.stderr.write(`${line}\n`);
    return exitCode;
  }
}

// a closed pipe (`bench/run.ts tables | head`) ends the command quietly
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

runBench(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
