/**
 * The decode soak of issue 12: 10,000 greedy decode steps of stories260K through ClusterKV on cpu or wasm,
 * printing tf.memory()'s tensor count and bytes at every decode-window boundary (the curve), then whether
 * the tensor count stayed constant and the bytes grew by the same amount every window.
 *
 *   tsx bench/soak.ts [--steps 10000] [--backend wasm] [--window 64] [--out soak.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/gpu/backend.js';
import { loadModel } from '../src/model/load.js';
import { decodeSoak } from '../src/model/soak.js';
import { createMethod } from '../src/sim/methods/index.js';

const { values: a } = parseArgs({ options: { steps: { type: 'string', default: '10000' }, backend: { type: 'string', default: 'wasm' }, window: { type: 'string', default: '64' }, out: { type: 'string' } } });
const backend = await useBackend(a.backend);
const model = await loadModel('../shared/models/stories260K/stories260K.bin');
const window = Number(a.window);
const method = createMethod('clusterkv', { budget: 48, sinks: 4, window, windowClusters: 4, tokensPerCluster: 16, iters: 5, denseLayers: 1 });
console.log(`soak: stories260K, clusterkv ${JSON.stringify(method.params)}, ${a.steps} steps on ${backend}`);
console.log('step\tposition\tnumTensors\tMB');
const r = await decodeSoak(model, method, [1], Number(a.steps), window, (s) => console.log(`${s.step}\t${s.position}\t${s.numTensors}\t${(s.numBytes / 1e6).toFixed(3)}`));
const inc = r.byteIncrements;
const stable = r.tensorCounts.length === 1 && inc.every((x) => x === inc[0]);
console.log(`\n${r.samples.length} samples in ${r.seconds.toFixed(1)} s: tensor counts ${r.tensorCounts.join(', ')}; bytes per window ${[...new Set(inc)].join(', ')} -> ${stable ? 'stable' : 'NOT stable'}`);
if (a.out) writeFileSync(a.out, JSON.stringify({ backend, params: method.params, ...r }, null, 2));
model.dispose();
process.exit(stable ? 0 : 1);
