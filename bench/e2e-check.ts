/**
 * The decode engine against the tfjs model path on the current backend (a GPU host's check of what
 * test/e2e-engine.test.ts checks on the software adapter): same weights, dense logits at every position,
 * and ClusterKV decode through closing windows against createMethod('clusterkv', ...) in the tfjs path.
 *   tsx bench/e2e-check.ts MODEL.bin      (e.g. stories260K.bin; exit 1 when a check fails)
 */
import * as tf from '@tensorflow/tfjs-core';
import { gpuAdapterInfo, useBackend } from '../src/gpu/backend.js';
import { DecodeEngine } from '../src/model/engine/decode-engine.js';
import { engineModelFrom } from '../src/model/engine/engine-model.js';
import { teacherForcedLogits } from '../src/model/compare.js';
import { loadModel } from '../src/model/load.js';
import { createMethod } from '../src/sim/methods/index.js';
import { worstRelative } from '../src/sim/parity.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: tsx bench/e2e-check.ts MODEL.bin');
  process.exit(1);
}
await useBackend(process.env.CLUSTERKV_BACKEND || 'webgpu');
console.log(`backend ${tf.getBackend()}, adapter ${JSON.stringify(gpuAdapterInfo() ?? {})}`);
const model = await loadModel(file);
const V = model.config.vocabSize;
const { weights } = await engineModelFrom(model);

function ids(n: number, seed: number): number[] {
  let a = seed;
  return Array.from({ length: n }, () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return 1 + (a % (V - 1));
  });
}

// dense: every position of two prompts
const n = 48;
const prompts = [ids(n, 1), ids(n, 2)];
const want: Float32Array[] = [];
for (const p of prompts) {
  const session = model.session('dense');
  const logits = await session.forward(p);
  want.push((await logits.data()) as Float32Array);
  logits.dispose();
  session.dispose();
}
let engine = new DecodeEngine({ weights, batch: 2, capacity: n, maxSteps: n });
let denseWorst = 0;
let t0 = performance.now();
for (let i = 0; i < n; i++) {
  engine.step({ tokens: [prompts[0][i], prompts[1][i]] });
  const got = await engine.readLogits();
  for (let b = 0; b < 2; b++) denseWorst = Math.max(denseWorst, worstRelative(got.subarray(b * V, (b + 1) * V), want[b].subarray(i * V, (i + 1) * V)));
}
engine.dispose();
console.log(`dense: ${n} positions x 2 sequences, worst relative logit difference ${denseWorst.toExponential(2)} (${(performance.now() - t0).toFixed(0)} ms)`);

// clusterkv: prompt, clustering, decode through closing windows
const P = 96;
const steps = 20;
const method = createMethod('clusterkv', { budget: 16, sinks: 4, window: 8, windowClusters: 2, tokensPerCluster: 8, denseLayers: 1, iters: 8, seed: 3, diagnostics: false });
const cPrompts = [ids(P, 5), ids(P, 6)];
const next = [ids(steps, 7), ids(steps, 8)];
const path = (choice: 'dense' | typeof method, b: number) => teacherForcedLogits(model, choice, cPrompts[b], next[b]);
const sparse = [await path(method, 0), await path(method, 1)];
const dense = [await path('dense', 0), await path('dense', 1)];
engine = new DecodeEngine({ weights, batch: 2, capacity: P + steps, maxSteps: P + steps, clusterkv: method });
for (let i = 0; i < P; i++) engine.step({ tokens: [cPrompts[0][i], cPrompts[1][i]] });
await engine.clusterPrompt();
let sparseWorst = 0;
let fromDense = 0;
const clusters: number[] = [];
t0 = performance.now();
for (let i = 0; i < steps; i++) {
  const info = engine.step({ attention: 'clusterkv', tokens: [next[0][i], next[1][i]] });
  clusters.push(info.clusters);
  const got = await engine.readLogits();
  for (let b = 0; b < 2; b++) {
    sparseWorst = Math.max(sparseWorst, worstRelative(got.subarray(b * V, (b + 1) * V), sparse[b][i]));
    fromDense = Math.max(fromDense, worstRelative(got.subarray(b * V, (b + 1) * V), dense[b][i]));
  }
}
engine.dispose();
console.log(`clusterkv: ${steps} steps x 2 sequences after a ${P}-token prompt, worst relative difference from the tfjs ClusterKV path ${sparseWorst.toExponential(2)}, from dense ${fromDense.toFixed(3)}; clusters per KV head ${clusters.join(',')} (${(performance.now() - t0).toFixed(0)} ms)`);
weights.dispose();
model.dispose();
const ok = denseWorst < 1e-4 && sparseWorst < 1e-4 && fromDense > 1e-2;
console.log(ok ? 'e2e check: PASS' : 'e2e check: FAIL');
process.exitCode = ok ? 0 : 1;
