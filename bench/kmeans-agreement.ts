/**
 * Why ClusterKV's greedy text can differ between backends when dense text does not: the prompt K-means of a
 * real trace on two backends, with the same seed and rules, compared label by label. Where labels differ, the
 * key sat on a near-tie: its two best centroids' cosines (from the reference run's centroids) differ by
 * about float rounding, and the iterations that follow can carry the flip further. A different cluster then
 * changes what the budget selects.
 *
 *   tsx bench/kmeans-agreement.ts TRACE.safetensors [--layers 2,3,4,5] [--reference wasm] [--other webgpu]
 *        [--iters 20] [--tokens-per-cluster 80] [--sinks 16] [--perturb EPS] [--out F.json]
 * (webgpu without a GPU: CLUSTERKV_WEBGPU_ADAPTER=software runs the same WGSL kernels on Mesa llvmpipe)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/gpu/backend.js';
import { cosineKMeans, normalise } from '../src/gpu/kmeans.js';
import { mulberry32 } from '../src/trace/random.js';
import { clusteringSeed } from '../src/sim/methods/clusterkv/plan.js';
import { TraceReader } from '../src/trace/index.js';

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    layers: { type: 'string', default: '2,3,4,5' },
    reference: { type: 'string', default: 'wasm' },
    other: { type: 'string', default: 'webgpu' },
    iters: { type: 'string', default: '20' },
    'tokens-per-cluster': { type: 'string', default: '80' },
    sinks: { type: 'string', default: '16' },
    seed: { type: 'string', default: '0' },
    /** multiply the other run's keys by (1 + perturb * u), u uniform in [-1, 1] (seeded): keys that differ by float rounding, as two backends' captures do */
    perturb: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});

interface Run { labels: Int32Array; centroids: Float32Array }

/** ClusterKV's prompt K-means of one layer (the rules and seed of ClusterKVLayer.prefill). */
async function cluster(keys: Float32Array, G: number, P: number, d: number, sinks: number, k: number, iters: number, seed: number): Promise<Run> {
  const n = P - sinks;
  const t = tf.tidy(() => tf.slice(tf.tensor3d(keys, [G, keys.length / (G * d), d]), [0, sinks, 0], [G, n, d]));
  const r = cosineKMeans(t as tf.Tensor3D, k, { iters, seed });
  const [labels, centroids] = await Promise.all([r.labels.data(), r.centroids.data()]);
  tf.dispose([t, r.labels, r.centroids]);
  return { labels: labels as Int32Array, centroids: centroids as Float32Array };
}

async function main(): Promise<void> {
  const reader = await TraceReader.open(positionals[0]);
  const m = reader.manifest;
  const { kvHeads: G, headDim: d } = m.model;
  const P = m.prefillLength;
  const sinks = Number(a.sinks);
  const k = Math.ceil((P - sinks) / Number(a['tokens-per-cluster']));
  const iters = Number(a.iters);
  const layers = a.layers!.split(',').map(Number);
  const rows: Record<string, unknown>[] = [];
  for (const layer of layers) {
    const keys = (await reader.readLayer(layer)).k;
    const seed = clusteringSeed({ seed: Number(a.seed) }, layer);
    await useBackend(a.reference);
    const ref = await cluster(keys, G, P, d, sinks, k, iters, seed);
    await useBackend(a.other);
    const eps = Number(a.perturb);
    const rand = mulberry32(1234 + layer);
    const otherKeys = eps > 0 ? keys.map((x) => x * (1 + eps * (2 * rand() - 1))) : keys;
    const other = await cluster(otherKeys, G, P, d, sinks, k, iters, seed);
    // cosine margins of every key to its two best reference centroids (on the reference backend)
    await useBackend(a.reference);
    const n = P - sinks;
    const margins = tf.tidy(() => {
      const kt = normalise(tf.slice(tf.tensor3d(keys, [G, keys.length / (G * d), d]), [0, sinks, 0], [G, n, d]) as tf.Tensor3D);
      const ct = normalise(tf.tensor3d(ref.centroids, [G, k, d]));
      const cos = tf.matMul(kt, tf.transpose(ct, [0, 2, 1])); // [G, n, k]
      const top2 = tf.topk(cos, 2).values; // [G, n, 2]
      return tf.sub(tf.slice(top2, [0, 0, 0], [-1, -1, 1]), tf.slice(top2, [0, 0, 1], [-1, -1, 1]));
    });
    const margin = (await margins.data()) as Float32Array;
    margins.dispose();
    const differing: number[] = [];
    for (let i = 0; i < ref.labels.length; i++) if (ref.labels[i] !== other.labels[i]) differing.push(i);
    const sorted = Array.from(margin).sort((x, y) => x - y);
    const rank = (v: number) => sorted.findIndex((s) => s >= v) / sorted.length;
    // keys whose label flipped: how close to a tie they were (a permuted cluster id would flip whole clusters)
    const flippedMargins = differing.map((i) => margin[i]).sort((x, y) => x - y);
    const row = {
      layer,
      keys: ref.labels.length,
      clusters: k,
      differingLabels: differing.length,
      share: differing.length / ref.labels.length,
      flippedMarginMedian: flippedMargins.length ? flippedMargins[Math.floor(flippedMargins.length / 2)] : null,
      flippedMarginMax: flippedMargins.length ? flippedMargins[flippedMargins.length - 1] : null,
      flippedMarginMedianPercentile: flippedMargins.length ? rank(flippedMargins[Math.floor(flippedMargins.length / 2)]) : null,
      allMarginMedian: sorted[Math.floor(sorted.length / 2)],
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await reader.close();
  if (a.out) writeFileSync(a.out, JSON.stringify({ trace: positionals[0], reference: a.reference, other: a.other, iters, rows }, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
