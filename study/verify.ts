/**
 * Replay check for captured traces (issue 4 (b)): dense attention recomputed from each trace's stored q, k, v
 * (what the `full` method attends) against the dense outputs the model computed during capture (layers.{l}.out),
 * via src/sim/verify.ts. The CLI has no verify command, so this script calls the library.
 *
 *   npx tsx study/verify.ts OUT.json TRACE.safetensors...
 */
import { writeFileSync } from 'node:fs';
import { useBackend } from '../src/gpu/backend.js';
import { verifyStoredOutputs } from '../src/sim/verify.js';
import { TraceReader } from '../src/trace/index.js';

const [outFile, ...traces] = process.argv.slice(2);
if (!outFile || traces.length === 0) {
  console.error('usage: tsx study/verify.ts OUT.json TRACE.safetensors...');
  process.exit(2);
}
const backend = await useBackend(process.env.CLUSTERKV_BACKEND ?? 'wasm');
const results: Record<string, unknown>[] = [];
for (const path of traces) {
  const reader = await TraceReader.open(path);
  try {
    const t0 = performance.now();
    const layers = await verifyStoredOutputs(reader);
    const maxRelError = Math.max(...layers.map((l) => l.maxRelError));
    const m = reader.manifest;
    results.push({
      trace: path, source: m.source.name, dtype: m.dtype, contextLength: m.contextLength, steps: m.stepPositions.length,
      layers, maxRelError, seconds: (performance.now() - t0) / 1000,
    });
    console.log(`${path} (${m.dtype}): max over layers, steps, heads of ||o_recomputed - o_stored|| / ||o_stored|| = ${maxRelError.toExponential(3)}`);
    for (const l of layers) console.log(`  layer ${l.layer}: ${l.maxRelError.toExponential(3)}`);
  } finally {
    await reader.close();
  }
}
writeFileSync(outFile, JSON.stringify({ backend, results }, null, 2));
