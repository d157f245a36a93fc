/**
 * Needle recall: at each decode step of the answer, in each sparse layer, whether the query heads' selections
 * held the needle's tokens, and how much of the dense attention on the needle they kept. With dense weights
 * a_h = softmax(q_h.k / sqrt(d)) over every cached position for query head h, selection S_h, needle
 * positions N and key-digit positions K (inside the needle):
 *   needleCoverage    mean_h |S_h ∩ N| / |N|        needleAllSelected  share of heads with N ⊆ S_h
 *   needleMass        mean_h sum_{i in N} a_h,i     (how much the dense queries look at the needle)
 *   needleMassRecall  sum_h sum_{i in S_h∩N} a_h,i / sum_h sum_{i in N} a_h,i: the needle's dense weight
 *                     kept, pooled over heads (and over steps and layers in a row's mean), so the heads
 *                     that attend to the needle count and the ones that ignore it do not
 *   keyCoverage, keyMass, keyMassRecall           the same over K
 *   massRecall        mean_h sum_{i in S_h} a_h,i   (the sweep's mass recall, for reference)
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SelectionObservation, SelectionObserver } from '../layer-attention.js';

export const NEEDLE_METRICS = ['needleCoverage', 'needleAllSelected', 'needleMass', 'needleMassRecall', 'keyCoverage', 'keyMass', 'keyMassRecall', 'massRecall'] as const;
export type NeedleMetric = (typeof NEEDLE_METRICS)[number];

/** What each needle metric means, for --help, tables and the study. */
export const NEEDLE_METRIC_MEANING: Record<NeedleMetric, string> = {
  needleCoverage: "share of the needle's tokens in the selection (mean over query heads)",
  needleAllSelected: 'share of query heads whose selection held the whole needle',
  needleMass: 'dense attention weight on the needle (mean over query heads)',
  needleMassRecall: "share of the needle's dense attention weight the selection kept (pooled over heads)",
  keyCoverage: "share of the key digits' tokens in the selection",
  keyMass: "dense attention weight on the key digits' tokens",
  keyMassRecall: "share of the key digits' dense attention weight the selection kept (pooled over heads)",
  massRecall: 'share of all dense attention weight the selection kept (mean over query heads)',
};

/** One layer at one decode step: the metrics, plus the kept needle and key weight (mean over heads) for pooling. */
export type NeedleRecallRecord = {
  /** the answer token this decode step produced (1 = the second answer token; 0 comes from the prefill) */
  step: number;
  layer: number;
  /** positions attended per query head */
  attended: number;
  needleKept: number;
  keyKept: number;
} & Record<NeedleMetric, number>;

export interface NeedleRecallOptions {
  needle: readonly number[];
  key: readonly number[];
  /** the prompt's length: the decode step at position p produces answer token p - promptLength + 1 */
  promptLength: number;
  /** layers recorded (the method's sparse layers) */
  layers: (layer: number) => boolean;
}

type Values = Omit<NeedleRecallRecord, 'step' | 'layer'>;

/**
 * One observation from host copies (plain TS): weights [H * positions] dense softmax weights, tokens
 * [H * n] attended positions per head (null: every position; a negative position is an empty slot, attending
 * nothing: the engine's lists of a selection that took fewer than its slots). `attended` is the mean over
 * heads of the positions attended.
 */
export function needleRecallOf(weights: Float32Array, tokens: Int32Array | null, heads: number, positions: number, needle: readonly number[], key: readonly number[]): Values {
  const n = tokens ? tokens.length / heads : positions;
  const inSelection = new Uint8Array(positions);
  const weightOf = (off: number, set: readonly number[], selectedOnly: boolean) => {
    let s = 0;
    for (const p of set) if (!selectedOnly || inSelection[p]) s += weights[off + p];
    return s;
  };
  const coverage = (set: readonly number[]) => (set.length === 0 ? 1 : set.filter((p) => inSelection[p]).length / set.length);
  let mass = 0;
  let needleMass = 0;
  let needleKept = 0;
  let keyMass = 0;
  let keyKept = 0;
  let needleCoverage = 0;
  let needleAll = 0;
  let keyCoverage = 0;
  let attended = 0;
  for (let h = 0; h < heads; h++) {
    const off = h * positions;
    inSelection.fill(tokens ? 0 : 1);
    if (tokens) {
      for (let j = 0; j < n; j++) {
        const p = tokens[h * n + j];
        if (p < 0) continue;
        attended++;
        if (!inSelection[p]) {
          inSelection[p] = 1;
          mass += weights[off + p];
        }
      }
    } else {
      for (let p = 0; p < positions; p++) mass += weights[off + p];
      attended += positions;
    }
    needleMass += weightOf(off, needle, false);
    needleKept += weightOf(off, needle, true);
    keyMass += weightOf(off, key, false);
    keyKept += weightOf(off, key, true);
    const c = coverage(needle);
    needleCoverage += c;
    needleAll += c === 1 ? 1 : 0;
    keyCoverage += coverage(key);
  }
  return {
    attended: attended / heads,
    massRecall: mass / heads,
    needleMass: needleMass / heads,
    needleKept: needleKept / heads,
    needleMassRecall: needleMass > 0 ? needleKept / needleMass : 1,
    keyMass: keyMass / heads,
    keyKept: keyKept / heads,
    keyMassRecall: keyMass > 0 ? keyKept / keyMass : 1,
    needleCoverage: needleCoverage / heads,
    needleAllSelected: needleAll / heads,
    keyCoverage: keyCoverage / heads,
  };
}

/**
 * A row's needle metrics from its records: means over records, the mass recalls pooled (kept weight over
 * dense weight, summed over every record); every metric null without records.
 */
export function aggregateNeedleRecall(records: readonly NeedleRecallRecord[]): Record<NeedleMetric, number | null> {
  const out = Object.fromEntries(NEEDLE_METRICS.map((m) => [m, null])) as Record<NeedleMetric, number | null>;
  if (records.length === 0) return out;
  const mean = (f: (r: NeedleRecallRecord) => number) => records.reduce((a, r) => a + f(r), 0) / records.length;
  const pooled = (kept: (r: NeedleRecallRecord) => number, mass: (r: NeedleRecallRecord) => number) => {
    const m = records.reduce((a, r) => a + mass(r), 0);
    return m > 0 ? records.reduce((a, r) => a + kept(r), 0) / m : 1;
  };
  for (const m of NEEDLE_METRICS) out[m] = mean((r) => r[m]);
  out.needleMassRecall = pooled((r) => r.needleKept, (r) => r.needleMass);
  out.keyMassRecall = pooled((r) => r.keyKept, (r) => r.keyMass);
  return out;
}

/**
 * Dense softmax weights [H, T] of q [H, d] over keys [G, T, d] (query head h reads KV head floor(h / (H / G))),
 * with the keys transposed first: a matMul with transposeB is ~10x slower on wasm. B sequences at once are
 * q [B H, d] over keys [B G, T, d] (both sequence-major): the same grouping.
 */
export function denseWeights(q: tf.Tensor2D, keys: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = keys.shape;
  return tf.tidy(() => {
    const scores = tf.matMul(tf.reshape(q, [G, H / G, d]), tf.transpose(keys, [0, 2, 1])); // [G, H/G, T]
    return tf.reshape(tf.softmax(tf.mul(scores, 1 / Math.sqrt(d))), [H, T]) as tf.Tensor2D;
  });
}

/** Records needle recall at every observed decode step (an observer for ModelSession). */
export class NeedleRecallRecorder {
  readonly records: NeedleRecallRecord[] = [];

  constructor(private readonly opts: NeedleRecallOptions) {}

  /** Records one layer at one decode step from its dense weights [H, T] and the selection's token lists [H, n] (null: dense). */
  record(layer: number, position: number, weights: Float32Array, tokens: Int32Array | null, heads: number, positions: number): void {
    if (!this.opts.layers(layer)) return;
    const values = needleRecallOf(weights, tokens, heads, positions, this.opts.needle, this.opts.key);
    this.records.push({ step: position - this.opts.promptLength + 1, layer, ...values });
  }

  readonly observer: SelectionObserver = async (o: SelectionObservation) => {
    if (!this.opts.layers(o.layer)) return;
    const [H] = o.q.shape;
    const T = o.keys.shape[1];
    const weightsT = denseWeights(o.q, o.keys);
    try {
      const weights = (await weightsT.data()) as Float32Array;
      const tokens = o.dense ? null : ((await o.tokens.data()) as Int32Array);
      this.record(o.layer, o.position, weights, tokens, H, T);
    } finally {
      weightsT.dispose();
    }
  };
}
