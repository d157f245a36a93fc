/**
 * Suite model: a real model on one backend through the model runtime (src/model/runtime.ts: on webgpu the
 * WebGPU engine, elsewhere the tfjs op path), in fresh processes (issue 11): greedy generation from a Moby Dick
 * prompt, dense and through ClusterKV, every generated id with its top-1 / top-2
 * logit gap (so that a divergence between backends can be told apart from float rounding: it may only happen
 * where the gap is within rounding), and prefill and decode tokens/s. The merge gives the tokens/s over
 * processes; with --reference (a run of the same model and prompt on another backend, e.g. wasm on the dev
 * machine: `bench/run.ts model --backend wasm --processes 1`), each process is compared with it
 * (model-check-compare-N.json).
 * One process's work is `bench/run.ts once model-check` (modelCheckOnce below); the engine suite runs the
 * same check on the engine with an f32 KV cache (modelCheckOf).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { gpuAdapterInfo, useBackend } from '../../src/gpu/backend.js';
import type { DTypeChoice } from '../../src/model/engine/engine-model.js';
import { loadTokenizer } from '../../src/model/load.js';
import { chooseRuntime, describeRuntime, generateWith, loadRuntimeModel, type RuntimeModel } from '../../src/model/runtime.js';
import { createSampler } from '../../src/model/sampling.js';
import { encodePrefix, readText } from '../../src/model/texts.js';
import { readCheckedJson } from '../../src/sim/bench/merge-runs.js';
import { compareModelChecks, modelCheckFileSchema, modelCheckKind, type ModelCheckFile } from '../../src/sim/bench/model-check-file.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { packageVersions } from '../../src/sim/versions.js';
import { nodeCommand, type BenchSize, type Suite } from '../suite.js';

/** Model, tokenizer, context, steps and budget per size (full: issue 11's run of ckvlab-9m-16k at 16K). */
export const MODEL_CHECK_SIZES: Record<BenchSize, { model: string; tokenizer: string; context: number; steps: number; budget: number }> = {
  full: { model: '../shared/models/ckvlab-9m-16k/hf-f16', tokenizer: '../shared/models/stories260K/tok512.bin', context: 16384, steps: 32, budget: 1024 },
  small: { model: '../shared/models/ckvlab-9m-16k/hf-f16', tokenizer: '../shared/models/stories260K/tok512.bin', context: 2048, steps: 8, budget: 256 },
  tiny: { model: '../shared/models/stories260K/stories260K.bin', tokenizer: '../shared/models/stories260K/tok512.bin', context: 160, steps: 4, budget: 32 },
};

export interface ModelCheckOptions {
  backend: string;
  model: string;
  tokenizer: string;
  context: number;
  steps: number;
  budget: number;
  /** the engine's KV cache (default auto: the checkpoint's precision; f32 compares with the op path's) */
  kv?: DTypeChoice;
}

/** Top-1 minus top-2 logit. */
function topGap(logits: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const x of logits) {
    if (x > a) [a, b] = [x, a];
    else if (x > b) b = x;
  }
  return a - b;
}

/** The model check of a loaded model (either runtime): dense and ClusterKV greedy generation from the Moby Dick prompt. */
export async function modelCheckOf(loaded: RuntimeModel, backend: string, opts: Omit<ModelCheckOptions, 'backend'>, log: (line: string) => void): Promise<ModelCheckFile> {
  const tokenizer = await loadTokenizer(opts.tokenizer, loaded.model);
  const prompt = encodePrefix(tokenizer, (await readText('moby-dick')).text, opts.context);
  const runs: ModelCheckFile['runs'] = [];
  for (const attention of ['dense', 'clusterkv'] as const) {
    const method = attention === 'dense' ? undefined : createMethod('clusterkv', { budget: opts.budget });
    const gaps: number[] = [];
    const r = await generateWith(loaded, prompt, { steps: opts.steps, sampler: createSampler(0, 0), onLogits: (logits) => gaps.push(topGap(logits)), attention: method ?? 'dense', kv: opts.kv });
    const run = {
      attention,
      params: method?.params,
      ids: r.ids,
      gaps,
      prefillSeconds: r.prefillSeconds,
      decodeSeconds: r.decodeSeconds,
      prefillTokensPerSecond: prompt.length / r.prefillSeconds,
      decodeTokensPerSecond: (r.ids.length - 1) / r.decodeSeconds,
    };
    runs.push(run);
    log(`${attention}: prefill ${prompt.length} tokens in ${r.prefillSeconds.toFixed(2)} s (${run.prefillTokensPerSecond.toFixed(0)} tok/s), decode ${run.decodeTokensPerSecond.toFixed(1)} tok/s on ${backend} (${describeRuntime(loaded)}${r.engine ? `, ${r.engine.kv} KV` : ''})`);
    log(`  ${JSON.stringify(tokenizer.decode(r.ids))}`);
  }
  return { kind: 'clusterkv-model-check', backend, runtime: describeRuntime(loaded), adapter: (gpuAdapterInfo() as Record<string, unknown> | undefined) ?? null, model: opts.model, context: opts.context, steps: opts.steps, tensorsLeft: tf.memory().numTensors, versions: packageVersions(), runs };
}

/** One process of the model suite: dense and ClusterKV generation on `opts.backend`, through the runtime it chooses. */
export async function modelCheckOnce(opts: ModelCheckOptions, log: (line: string) => void): Promise<ModelCheckFile> {
  const backend = await useBackend(opts.backend);
  const clusterkv = createMethod('clusterkv', { budget: opts.budget });
  const loaded = await loadRuntimeModel(opts.model, chooseRuntime(backend, ['dense', clusterkv]));
  try {
    return await modelCheckOf(loaded, backend, opts, log);
  } finally {
    loaded.model.dispose();
  }
}

/** `other` against `reference` (model-check files), written to `out` as the committed model-check-compare-N.json are. */
export function compareModelFiles(reference: string, other: string, tolerance: number, out: string | undefined): { clear: boolean; lines: string[] } {
  const ref = readCheckedJson(reference, modelCheckFileSchema);
  const oth = readCheckedJson(other, modelCheckFileSchema);
  const { results, clear, lines } = compareModelChecks(ref, oth, tolerance);
  if (out) writeFileSync(out, JSON.stringify({ reference: ref.backend, other: oth.backend, context: ref.context, tolerance, results }, null, 2));
  return { clear, lines };
}

export const modelSuite: Suite = {
  name: 'model',
  description: 'a real model on one backend (webgpu: the WebGPU engine): greedy ids with their top-1/top-2 gaps, dense and ClusterKV, prefill and decode tok/s; optionally each process against a reference run',
  processes: 3,
  backend: 'webgpu',
  kind: modelCheckKind,
  timeoutS: 180,
  options: [
    ['--model <dir|file>', 'the model (default per size: full and small ckvlab-9m-16k hf-f16, tiny stories260K)'],
    ['--tokenizer <file>', 'its tokenizer (default: stories260K/tok512.bin)'],
    ['--context <n>', 'prompt tokens (default per size: full 16384, small 2048, tiny 160)'],
    ['--steps <n>', 'generated tokens (default per size: full 32, small 8, tiny 4)'],
    ['--budget <n>', 'ClusterKV budget B (default per size: full 1024, small 256, tiny 32)'],
    ['--kv-dtype <auto|f32|f16>', "the engine's KV cache (webgpu)", 'auto'],
    ['--reference <file.json>', 'a model-check run of the same model and prompt on another backend to compare each process with'],
    ['--tolerance <gap>', 'a divergence counts as rounding where the reference top-1/top-2 gap is below this', '0.01'],
  ],
  jobs: (run) => {
    const size = MODEL_CHECK_SIZES[run.size];
    const o = run.options;
    const args = ['--backend', run.backend, '--model', String(o.model ?? size.model), '--tokenizer', String(o.tokenizer ?? size.tokenizer), '--context', String(o.context ?? size.context), '--steps', String(o.steps ?? size.steps), '--budget', String(o.budget ?? size.budget), '--kv-dtype', String(o.kvDtype)];
    return [{ name: 'model-check', argv: nodeCommand('driver', ['once', 'model-check', ...args, '--out', '{out}']) }];
  },
  after: (run, usable, log) => {
    const reference = run.options.reference;
    if (!reference) return;
    for (const file of usable) {
      const out = path.join(path.dirname(file), `model-check-compare-${path.basename(file, '.json').split('-').pop()}.json`);
      const { clear, lines } = compareModelFiles(String(reference), file, Number(run.options.tolerance), out);
      log(`${path.basename(file)} against ${reference}${clear ? ': a divergence NOT explained by rounding' : ''}`);
      for (const line of lines) log(`  ${line}`);
    }
  },
};
