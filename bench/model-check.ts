/**
 * A real model on one backend, for the cross-backend equality checks and the speed table of issue 11:
 * greedy generation from a Moby Dick prompt, dense and through ClusterKV, recording every generated id with
 * its top-1 / top-2 logit gap (so a divergence between backends can be told apart from float rounding: it
 * may only happen where the gap is within rounding), plus prefill and decode tokens/s.
 *
 *   tsx bench/model-check.ts --backend webgpu --out run.json [--model DIR|FILE] [--context 16384] [--steps 32]
 *                            [--budget 1024] [--tokenizer FILE]
 * On webgpu the WebGPU engine runs it (src/model/runtime.ts: f16 weights from an F16 checkpoint; --kv-dtype
 * f32 keeps the KV cache as the op path's), elsewhere the tfjs op path.
 * Compare two runs with bench/compare-model-checks.ts.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { gpuAdapterInfo, useBackend } from '../src/gpu/backend.js';
import { generateOnEngine } from '../src/model/engine/engine-generate.js';
import type { DTypeChoice } from '../src/model/engine/engine-model.js';
import { generate } from '../src/model/generate.js';
import { loadTokenizer } from '../src/model/load.js';
import { chooseRuntime, describeRuntime, loadRuntimeModel } from '../src/model/runtime.js';
import { createSampler } from '../src/model/sampling.js';
import { encodePrefix, readText } from '../src/model/texts.js';
import { createMethod } from '../src/sim/methods/index.js';
import { packageVersions } from '../src/sim/versions.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    out: { type: 'string' },
    model: { type: 'string', default: '../shared/models/ckvlab-9m-16k/hf-f16' },
    tokenizer: { type: 'string', default: '../shared/models/stories260K/tok512.bin' },
    context: { type: 'string', default: '16384' },
    steps: { type: 'string', default: '32' },
    budget: { type: 'string', default: '1024' },
    'kv-dtype': { type: 'string', default: 'auto' },
  },
});

interface Run {
  attention: string;
  params?: Record<string, unknown>;
  ids: number[];
  /** per generated id: top-1 minus top-2 logit of the distribution it was chosen from */
  gaps: number[];
  prefillSeconds: number;
  decodeSeconds: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

function topGap(logits: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const x of logits) {
    if (x > a) [a, b] = [x, a];
    else if (x > b) b = x;
  }
  return a - b;
}

async function main(): Promise<void> {
  const backend = await useBackend(args.backend);
  const context = Number(args.context);
  const steps = Number(args.steps);
  const clusterkv = createMethod('clusterkv', { budget: Number(args.budget) });
  const loaded = await loadRuntimeModel(args.model!, chooseRuntime(backend, ['dense', clusterkv]));
  const model = loaded.model;
  const kv = args['kv-dtype'] as DTypeChoice;
  const tokenizer = await loadTokenizer(args.tokenizer, model);
  const prompt = encodePrefix(tokenizer, (await readText('moby-dick')).text, context);
  const runs: Run[] = [];
  for (const attention of ['dense', 'clusterkv'] as const) {
    const method = attention === 'dense' ? undefined : clusterkv;
    const gaps: number[] = [];
    const options = { steps, sampler: createSampler(0, 0), onLogits: (logits: Float32Array) => gaps.push(topGap(logits)) };
    let r;
    if (loaded.runtime === 'engine') r = await generateOnEngine(loaded.model, prompt, { ...options, attention: method ?? 'dense', kv });
    else {
      const session = loaded.model.session(method ?? 'dense');
      r = await generate(session, prompt, options);
      session.dispose();
    }
    runs.push({
      attention,
      params: method?.params,
      ids: r.ids,
      gaps,
      prefillSeconds: r.prefillSeconds,
      decodeSeconds: r.decodeSeconds,
      prefillTokensPerSecond: prompt.length / r.prefillSeconds,
      decodeTokensPerSecond: (r.ids.length - 1) / r.decodeSeconds,
    });
    console.log(`${attention}: prefill ${prompt.length} tokens in ${r.prefillSeconds.toFixed(2)} s (${(prompt.length / r.prefillSeconds).toFixed(0)} tok/s), decode ${(runs.at(-1)!.decodeTokensPerSecond).toFixed(1)} tok/s on ${backend}`);
    console.log(`  ${JSON.stringify(tokenizer.decode(r.ids))}`);
  }
  const report = { kind: 'clusterkv-model-check', backend, runtime: describeRuntime(loaded), adapter: gpuAdapterInfo() ?? null, model: args.model, context, steps, tensorsLeft: tf.memory().numTensors, versions: packageVersions(), runs };
  if (args.out) writeFileSync(args.out, JSON.stringify(report, null, 2));
  model.dispose();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
