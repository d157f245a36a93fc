/**
 * Seeded synthetic traces whose structure matters for clustering, modelled on what real attention shows:
 * - text comes in runs of a topic; keys lie around per-topic centres (so semantic clusters exist), with the
 *   topic signal mostly in the low-frequency RoPE pairs, where it survives rotation over long distances;
 * - attention sinks: the first tokens carry outsized keys along a direction every query shares;
 * - outlier key channels: a few dims with large, nearly constant magnitude (they shift all logits alike but
 *   crowd cosine similarity, which makes cosine K-means harder, as on real keys);
 * - local (recency) heads: a constant mid-frequency key component that such heads' queries also carry, so
 *   after RoPE their scores peak at short distance; they also favour the current topic;
 * - other heads' queries focus on one or two topics of the context, drifting slowly across decode steps;
 * - per-layer and per-head sharpness, so some heads are peaked and some are flat.
 * Keys and queries are rotated with RoPE at their positions. Values are random. `out` is the dense attention
 * output computed from the stored (dtype-rounded) values.
 */
import { CREATED_BY } from '../version.js';
import { denseAttentionOutput } from './dense-attention.js';
import { roundToFloat16 } from './float16.js';
import { layerTensorNames, TRACE_FORMAT, TRACE_VERSION, type TraceManifest } from './manifest.js';
import { SeededRandom } from './random.js';
import { mixSeed } from './seeds.js';
import { applyRope, ropeFrequencies } from './rope.js';
import { traceTensorSpecs, TraceWriter, type TraceLayer } from './writer.js';

export interface SynthOptions {
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  context: number;
  steps: number;
  seed: number;
  dtype: 'F16' | 'F32';
  ropeTheta?: number;
  topics?: number;
}

export const DEFAULT_SYNTH: SynthOptions = { layers: 4, heads: 8, kvHeads: 2, headDim: 64, context: 4096, steps: 16, seed: 0, dtype: 'F16', ropeTheta: 10000, topics: 32 };

/** Tokens at the start with sink keys. */
export const SYNTH_SINK_TOKENS = 4;
/** Vocabulary of the synthetic token ids (the size of the tok512 tokenizer of the project's models). */
const VOCAB = 512;
/** Mean length of a run of one topic, in tokens. */
const MEAN_RUN = 40;

function requireInt(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`synthetic trace: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Fill in defaults and validate; errors name the parameter. */
export function resolveSynthOptions(opts: Partial<SynthOptions>): Required<SynthOptions> {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const o = { ...DEFAULT_SYNTH, ...given } as Required<SynthOptions>;
  o.ropeTheta = opts.ropeTheta ?? DEFAULT_SYNTH.ropeTheta ?? 10000;
  o.topics = opts.topics ?? DEFAULT_SYNTH.topics ?? 32;
  requireInt('layers', o.layers, 1);
  requireInt('heads', o.heads, 1);
  requireInt('kvHeads', o.kvHeads, 1);
  requireInt('headDim', o.headDim, 2);
  requireInt('context', o.context, 2);
  requireInt('steps', o.steps, 1);
  requireInt('seed', o.seed, 0);
  requireInt('topics', o.topics, 1);
  if (o.headDim % 2 !== 0) throw new RangeError(`synthetic trace: headDim must be even (RoPE pairs dims), got ${o.headDim}`);
  if (o.heads % o.kvHeads !== 0) throw new RangeError(`synthetic trace: heads (${o.heads}) must be a multiple of kvHeads (${o.kvHeads})`);
  if (o.steps >= o.context) throw new RangeError(`synthetic trace: steps (${o.steps}) must be smaller than context (${o.context})`);
  if (o.dtype !== 'F16' && o.dtype !== 'F32') throw new RangeError(`synthetic trace: dtype must be F16 or F32, got ${String(o.dtype)}`);
  if (!(typeof o.ropeTheta === 'number' && o.ropeTheta > 1)) throw new RangeError(`synthetic trace: ropeTheta must be a number > 1, got ${String(o.ropeTheta)}`);
  return o;
}

/** Manifest of a synthetic trace: P = T - steps, p_s = P + s. */
export function synthManifest(o: Required<SynthOptions>): TraceManifest {
  const prefill = o.context - o.steps;
  return {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    source: { kind: 'synthetic', name: `clusterkv synth (${o.topics} topics, ${SYNTH_SINK_TOKENS} sinks)` },
    model: { layers: o.layers, heads: o.heads, kvHeads: o.kvHeads, headDim: o.headDim, ropeTheta: o.ropeTheta },
    keys: 'post-rope',
    contextLength: o.context,
    prefillLength: prefill,
    stepPositions: Array.from({ length: o.steps }, (_, s) => prefill + s),
    dtype: o.dtype,
    seed: o.seed,
    createdBy: CREATED_BY,
  };
}

/** The topic of every position (-1 for sink tokens), in runs, with Zipf-like topic frequencies; and token ids. */
export function synthTopics(o: Required<SynthOptions>): { topicOf: Int32Array; tokens: Int32Array } {
  const rng = new SeededRandom(mixSeed(o.seed, 0));
  const weights = Array.from({ length: o.topics }, (_, t) => 1 / Math.pow(t + 1, 0.8));
  const total = weights.reduce((a, b) => a + b, 0);
  const drawTopic = () => {
    let u = rng.uniform() * total;
    for (let t = 0; t < weights.length; t++) {
      u -= weights[t];
      if (u < 0) return t;
    }
    return weights.length - 1;
  };
  const topicOf = new Int32Array(o.context);
  const tokens = new Int32Array(o.context);
  let topic = drawTopic();
  for (let i = 0; i < o.context; i++) {
    if (i < SYNTH_SINK_TOKENS) {
      topicOf[i] = -1;
      tokens[i] = i === 0 ? 1 : rng.int(VOCAB);
      continue;
    }
    if (rng.uniform() < 1 / MEAN_RUN) topic = drawTopic();
    topicOf[i] = topic;
    // Each topic prefers its own slice of the vocabulary, as words do.
    tokens[i] = rng.uniform() < 0.7 ? (topic * 37 + rng.int(24)) % VOCAB : rng.int(VOCAB);
  }
  return { topicOf, tokens };
}

/** A unit vector whose pair i (dims 2i, 2i+1) has expected energy proportional to profile[i]. */
function randomDirection(rng: SeededRandom, profile: Float64Array): Float64Array {
  const d = profile.length * 2;
  const x = new Float64Array(d);
  let norm = 0;
  for (let j = 0; j < d; j++) {
    x[j] = rng.normal() * Math.sqrt(profile[j >> 1]);
    norm += x[j] * x[j];
  }
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < d; j++) x[j] /= norm;
  return x;
}

// Scales (in units where logits are q.k / sqrt(d)); tuned so that the exact top-256 of 4K keys hold roughly
// 40-90% of the attention mass on most heads (see test/trace/synth.test.ts).
const TOPIC_KEY = 8;
const KEY_NOISE = 4;
const SINK_KEY = 14;
const OUTLIER_KEY = 6;
const POSITION_KEY = 4;
const QUERY_TOPIC = 5.5;
const QUERY_SINK = 4.5;
const QUERY_POSITION = 8;
const QUERY_NOISE = 2;

/**
 * Generate one layer. Returns k, v [G, T, d] (post-RoPE) and q [S, H, d] (post-RoPE), rounded to the trace
 * dtype, and out [S, H, d], the dense attention output over the stored values.
 */
export function synthLayer(o: Required<SynthOptions>, layer: number, topicOf: Int32Array): Required<TraceLayer> {
  const { kvHeads: G, heads: H, headDim: d, context: T, steps: S, topics } = o;
  const pairs = d / 2;
  const rng = new SeededRandom(mixSeed(o.seed, layer + 1));
  const freqs = ropeFrequencies(d, o.ropeTheta);
  const prefill = T - S;
  const positions = Array.from({ length: S }, (_, s) => prefill + s);
  // Energy profiles over pairs: semantic content mostly in low-frequency pairs (high i); sink direction in the
  // lowest-frequency quarter; the positional component in mid frequencies (wavelengths of tens of tokens).
  const semantic = new Float64Array(pairs).map((_, i) => 0.1 + Math.pow(i / Math.max(1, pairs - 1), 2));
  const sinkProfile = new Float64Array(pairs).map((_, i) => (i >= Math.floor(pairs / 2) ? 1 : 0));
  const midProfile = new Float64Array(pairs).map((_, i) => (i >= Math.floor(pairs / 4) && i < Math.floor(pairs / 2) ? 1 : 0));
  const noiseStd = KEY_NOISE / Math.sqrt(d);

  const k = new Float32Array(G * T * d);
  const v = new Float32Array(G * T * d);
  const q = new Float32Array(S * H * d);
  const centres: Float64Array[][] = [];
  const sinkDirs: Float64Array[] = [];
  const positionDirs: Float64Array[] = [];
  for (let g = 0; g < G; g++) {
    const c = Array.from({ length: topics }, () => randomDirection(rng, semantic));
    const sinkDir = randomDirection(rng, sinkProfile);
    const positionDir = randomDirection(rng, midProfile);
    centres.push(c);
    sinkDirs.push(sinkDir);
    positionDirs.push(positionDir);
    // Outlier channels: two dims in low-frequency pairs, a fixed sign and a large magnitude per KV head.
    const outlierDims = [2 * (pairs - 1 - rng.int(Math.max(1, pairs >> 2))) + rng.int(2), 2 * (pairs - 1 - rng.int(Math.max(1, pairs >> 2))) + rng.int(2)];
    const outlierSigns = outlierDims.map(() => (rng.uniform() < 0.5 ? -1 : 1));
    for (let i = 0; i < T; i++) {
      const base = (g * T + i) * d;
      const topic = topicOf[i];
      if (topic < 0) {
        for (let j = 0; j < d; j++) k[base + j] = SINK_KEY * sinkDir[j] + 0.3 * noiseStd * rng.normal();
      } else {
        const amplitude = TOPIC_KEY * (1 + 0.15 * rng.normal());
        const centre = c[topic];
        for (let j = 0; j < d; j++) k[base + j] = amplitude * centre[j] + POSITION_KEY * positionDir[j] + noiseStd * rng.normal();
        for (let m = 0; m < outlierDims.length; m++) k[base + outlierDims[m]] += outlierSigns[m] * OUTLIER_KEY * (1 + 0.1 * rng.normal());
      }
      applyRope(k, base, i, freqs);
      for (let j = 0; j < d; j++) v[base + j] = rng.normal();
    }
  }

  // Heads: every fourth query head is a local head; sharpness varies with depth and head (early layers flatter).
  const group = H / G;
  const depth = o.layers > 1 ? layer / (o.layers - 1) : 1;
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / group);
    const local = h % 4 === 3;
    const sharpness = (0.75 + 0.4 * depth) * (0.8 + 0.4 * rng.uniform());
    const contextTopic = (p: number) => {
      for (let tries = 0; tries < 16; tries++) {
        const t = topicOf[rng.int(p + 1)];
        if (t >= 0) return t;
      }
      return rng.int(topics);
    };
    let focus = [contextTopic(prefill - 1), contextTopic(prefill - 1)];
    let focusWeights = [1, rng.uniform() < 0.5 ? 0 : 0.6 * rng.uniform()];
    for (let s = 0; s < S; s++) {
      const p = positions[s];
      // Queries drift slowly: now and then one focus topic changes.
      if (rng.uniform() < 0.2) {
        const slot = rng.int(2);
        focus[slot] = contextTopic(p);
        focusWeights[slot] = slot === 0 ? 1 : 0.6 * rng.uniform();
      }
      if (local) {
        focus = [Math.max(0, topicOf[p]), focus[1]];
        focusWeights = [0.7, 0];
      }
      const base = (s * H + h) * d;
      const qs = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        let x = (QUERY_NOISE / Math.sqrt(d)) * rng.normal();
        for (let f = 0; f < focus.length; f++) x += QUERY_TOPIC * focusWeights[f] * centres[g][focus[f]][j];
        if (local) x += QUERY_POSITION * positionDirs[g][j];
        qs[j] = sharpness * x;
      }
      applyRope(qs, 0, p, freqs);
      // The sink component is added after RoPE, aligned with the (barely rotated) sink keys at positions 0..3:
      // real queries find the sinks from any position, which a pre-RoPE direction would not do at long range.
      for (let j = 0; j < d; j++) q[base + j] = qs[j] + sharpness * QUERY_SINK * sinkDirs[g][j];
    }
  }

  const stored = o.dtype === 'F16' ? { k: roundToFloat16(k), v: roundToFloat16(v), q: roundToFloat16(q) } : { k, v, q };
  const out = denseAttentionOutput(stored.k, stored.v, stored.q, positions, { heads: H, kvHeads: G, headDim: d, context: T });
  return { ...stored, out };
}

/** Generate and write a synthetic trace (layer by layer, with out and tokens). Returns its manifest. */
export async function writeSyntheticTrace(path: string, opts: Partial<SynthOptions>): Promise<TraceManifest> {
  const o = resolveSynthOptions(opts);
  const manifest = synthManifest(o);
  const { topicOf, tokens } = synthTopics(o);
  const writer = await TraceWriter.create(path, manifest, traceTensorSpecs(manifest, { withOut: true, withTokens: true }));
  try {
    for (let l = 0; l < o.layers; l++) {
      const layer = synthLayer(o, l, topicOf);
      const names = layerTensorNames(l);
      await writer.write(names.k, layer.k);
      await writer.write(names.v, layer.v);
      await writer.write(names.q, layer.q);
      await writer.write(names.out, layer.out);
    }
    await writer.write('tokens', tokens);
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return manifest;
}
