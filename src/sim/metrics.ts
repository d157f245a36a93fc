/**
 * Recall-fidelity metrics of one decode step (docs/DESIGN.md#per-decode-step), declared once in METRICS: name,
 * meaning, value for dense attention, whether summaries average it, and how it is computed. The metric
 * computation, the result columns (results-schema.ts), the summaries and `clusterkv sweep --help` derive
 * from this list.
 *
 * With full weights a_i = softmax(q.k_i / sqrt(d)) over every position 0..p, full output o and selected set S
 * (per query head):
 *   massRecall      sum_{i in S} a_i
 *   topkRecall      |S ∩ TopK| / k with k = |S|
 *   outputRelError  ||o_S - o|| / ||o||, outputCosine cos(o_S, o)
 *   density         |S| / (p + 1)
 *   tokensAttended  |S| per query head; tokensLoaded |union of S over the query heads of its KV head|
 * The full attention of a step is computed once (referenceAttention) and shared by every method. A negative
 * position in a selection is an empty slot (selector.ts): it is no member of S, so |S| may differ by head.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendWeights, attentionWeights } from '../gpu/attention.js';

export interface StepReference {
  /** [H, T] full softmax weights */
  weights: tf.Tensor2D;
  /** [H, d] dense output */
  output: tf.Tensor2D;
}

/** What the device metrics of a selection are computed from (all inside one tidy). */
export interface SelectionTensors {
  ref: StepReference;
  /** [H, T] 1 where the head attends */
  mask: tf.Tensor2D;
  /** [H, T] the full weights on the attended positions */
  kept: tf.Tensor2D;
  /** [H] attention mass kept */
  mass: tf.Tensor1D;
  /** [H, d] the output of attention over the selection alone */
  sparse: tf.Tensor2D;
  /** attended positions per head: the largest head's |S| */
  n: number;
  /** [H] each head's |S|, where heads differ (empty slots); null: every head attends n */
  attended: Int32Array | null;
}

/** What the host metrics of a selection are computed from. */
export interface SelectionCounts {
  /** attended positions |S| of each query head */
  attended: ArrayLike<number>;
  /** positions 0..p */
  contextLength: number;
  /** per KV head, distinct positions over its query heads */
  loadedPerKvHead: number[];
  groupSize: number;
}

interface MetricBase {
  name: string;
  /** one line for tables, `--help` and the README */
  meaning: string;
  /** averaged in summaries (the recall-vs-budget picture) */
  summarized: boolean;
}
export interface DeviceMetric extends MetricBase {
  where: 'device';
  /** the value when every position is attended */
  dense: number;
  /** [H] */
  compute(t: SelectionTensors): tf.Tensor1D;
}
export interface HostMetric extends MetricBase {
  where: 'host';
  /** the value for query head h (also for dense selections) */
  compute(c: SelectionCounts, head: number): number;
}
export type Metric = DeviceMetric | HostMetric;

const norm = (x: tf.Tensor2D) => tf.norm(x, 'euclidean', 1);

/** topkRecall where heads attend different counts k_h = attended[h] (>= 1): the k_h-th largest weight per head. */
function topkRecallPerHead(t: SelectionTensors, attended: Int32Array): tf.Tensor1D {
  const H = attended.length;
  const k = Int32Array.from(attended, (a) => Math.max(a, 1));
  const top = tf.topk(t.ref.weights, t.n, true).values; // [H, n] descending
  const at = Int32Array.from(k, (kh, h) => h * t.n + kh - 1);
  const kth = tf.reshape(tf.gather(tf.reshape(top, [H * t.n]), tf.tensor1d(at, 'int32')), [H, 1]);
  const atLeastKth = tf.greaterEqual(t.ref.weights, tf.mul(tf.onesLike(t.ref.weights), kth));
  return tf.minimum(tf.div(tf.sum(tf.mul(t.mask, tf.cast(atLeastKth, 'float32')), 1), tf.tensor1d(k, 'float32')), 1) as tf.Tensor1D;
}

export const METRICS = [
  {
    name: 'massRecall', where: 'device', dense: 1, summarized: true,
    meaning: 'share of the full attention weight on the attended positions (1: nothing lost)',
    compute: (t) => t.mass,
  },
  {
    name: 'topkRecall', where: 'device', dense: 1, summarized: true,
    meaning: 'share of the attended positions that are among the k = |S| largest full weights',
    compute: (t) => {
      if (t.attended) return topkRecallPerHead(t, t.attended);
      const kth = tf.min(tf.topk(t.ref.weights, t.n, false).values, 1, true); // [H, 1]
      // kth spread to [H, T] by a multiply (exact): wasm's compare ops run ~20x slower when they broadcast, and so
      // do its broadcastTo and tile (12, 10 and 14 ms against 1 ms at [6, 8200])
      const atLeastKth = tf.greaterEqual(t.ref.weights, tf.mul(tf.onesLike(t.ref.weights), kth));
      return tf.minimum(tf.div(tf.sum(tf.mul(t.mask, tf.cast(atLeastKth, 'float32')), 1), t.n), 1) as tf.Tensor1D;
    },
  },
  {
    name: 'outputRelError', where: 'device', dense: 0, summarized: true,
    meaning: '||o_S - o|| / ||o||: relative error of the attention output over the selection',
    compute: (t) => tf.div(norm(tf.sub(t.sparse, t.ref.output)), tf.maximum(norm(t.ref.output), 1e-30)) as tf.Tensor1D,
  },
  {
    name: 'outputCosine', where: 'device', dense: 1, summarized: false,
    meaning: 'cosine between the attention output over the selection and the full output',
    compute: (t) => tf.div(tf.sum(tf.mul(t.sparse, t.ref.output), 1), tf.maximum(tf.mul(norm(t.sparse), norm(t.ref.output)), 1e-30)) as tf.Tensor1D,
  },
  {
    name: 'density', where: 'host', summarized: true,
    meaning: '|S| / (p + 1): share of the visible positions attended',
    compute: (c, h) => c.attended[h] / c.contextLength,
  },
  {
    // summarized: its mean is the budget a cell spent, so cells of different budget rules (InfiniGen's
    // threshold, top-p budgets) can be compared at equal mean budget
    name: 'tokensAttended', where: 'host', summarized: true,
    meaning: '|S|: positions the query head attends (forced set included)',
    compute: (c, h) => c.attended[h],
  },
  {
    name: 'tokensLoaded', where: 'host', summarized: false,
    meaning: 'distinct positions over the query heads of the KV head: what a GQA kernel must load',
    compute: (c, h) => c.loadedPerKvHead[Math.floor(h / c.groupSize)],
  },
] as const satisfies readonly Metric[];

/** The name of a metric (a result column). */
export type MetricName = (typeof METRICS)[number]['name'];

export const METRIC_NAMES: readonly MetricName[] = METRICS.map((m) => m.name);
/** The metrics summaries average. */
export const SUMMARY_METRICS: readonly string[] = METRICS.filter((m) => m.summarized).map((m) => m.name);

export type HeadMetrics = Record<MetricName, number>;

/**
 * q: [H, d]; keys, values: [G, T, d] (positions 0..p). Caller disposes the result with disposeReference.
 * The output is src/gpu's denseAttention computed from these weights (denseAttention would compute them again).
 */
export function referenceAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): StepReference {
  const weights = attentionWeights(q, keys);
  return { weights, output: attendWeights(weights, values) };
}

export function disposeReference(ref: StepReference): void {
  ref.weights.dispose();
  ref.output.dispose();
}

/**
 * Every metric per query head of a selection. tokens: [H, n] int32 distinct positions in 0..T-1;
 * dense: the selection is every position (Selection.dense), answered without computing.
 * keys, values: [G, T, d].
 */
export async function selectionMetrics(ref: StepReference, keys: tf.Tensor3D, values: tf.Tensor3D, tokens: tf.Tensor2D, dense = false): Promise<HeadMetrics[]> {
  return (await selectionsMetrics(ref, keys, values, [{ tokens, dense }]))[0];
}

/**
 * selectionMetrics for several selections of the same step (the methods of a replay), computed together: their
 * sparse outputs are one matMul ([G, C * H / G, T] x [G, T, d]) instead of C small ones (each output row is
 * computed exactly as alone: wasm's matMul sums a row the same way whatever the row count), and one readback.
 */
export async function selectionsMetrics(ref: StepReference, keys: tf.Tensor3D, values: tf.Tensor3D, selections: readonly { tokens: tf.Tensor2D; dense?: boolean }[]): Promise<HeadMetrics[][]> {
  const contextLength = keys.shape[1];
  const kvHeads = keys.shape[0];
  const all: readonly Metric[] = METRICS;
  const device = all.filter((m): m is DeviceMetric => m.where === 'device');
  for (const { tokens, dense } of selections) {
    // every position attended: the sparse output is the dense one
    if (dense && tokens.shape[1] !== contextLength) throw new RangeError(`a dense selection must attend all ${contextLength} positions, got ${tokens.shape[1]}`);
  }
  const sparseOnes = selections.map((s, i) => (s.dense ? -1 : i)).filter((i) => i >= 0);
  // the positions are read first: a selection with empty slots (negative positions) is scattered from the host
  const tokenIds: (Int32Array | null)[] = selections.map(() => null);
  (await Promise.all(sparseOnes.map((i) => selections[i].tokens.data()))).forEach((ids, c) => (tokenIds[sparseOnes[c]] = ids as Int32Array));
  // per selection, each head's |S| where heads differ or slots are empty (null: every head attends all n slots)
  const attendedOf = selections.map(({ tokens }, i) => attendedPerHead(tokenIds[i], tokens.shape[0], tokens.shape[1]));
  let deviceValues: Float32Array | null = null;
  if (sparseOnes.length > 0) {
    const stacked = tf.tidy(() => {
      const parts = sparseOnes.map((i) => {
        const { tokens } = selections[i];
        const [heads, n] = tokens.shape;
        const attended = attendedOf[i];
        // mask [H, T] of the selection (a scatter: no per-head gather of keys and values, slow on wasm), at flat
        // positions h * T + token; the row offsets come from the host (wasm's broadcastTo copies element by element)
        let where: tf.Tensor2D;
        let count = heads * n;
        if (attended) {
          const flat = occupiedFlatPositions(tokenIds[i]!, heads, n, contextLength);
          count = flat.length;
          where = tf.tensor2d(flat, [count, 1], 'int32');
        } else {
          const rowStart = new Int32Array(heads * n);
          for (let h = 0; h < heads; h++) rowStart.fill(h * contextLength, h * n, (h + 1) * n);
          where = tf.reshape(tf.add(tf.tensor2d(rowStart, [heads, n], 'int32'), tf.cast(tokens, 'int32')), [heads * n, 1]);
        }
        const mask = tf.reshape(tf.scatterND(where, tf.ones([count]), [heads * contextLength]), [heads, contextLength]) as tf.Tensor2D;
        const kept = tf.mul(ref.weights, mask) as tf.Tensor2D;
        return { mask, kept, mass: tf.sum(kept, 1) as tf.Tensor1D, n: attended ? Math.max(...attended) : n, attended };
      });
      // softmax over S is the full softmax restricted to S and renormalised: o_S = sum_S a_i v_i / sum_S a_i
      const heads = ref.weights.shape[0];
      const group = heads / kvHeads;
      const keptByGroup = tf.concat(parts.map((p) => tf.reshape(p.kept, [kvHeads, group, contextLength])), 1); // [G, C * group, T]
      const summed = tf.matMul(keptByGroup, values); // [G, C * group, d]
      const d = values.shape[2];
      return tf.stack(
        parts.map((p, c) => {
          const rows = tf.reshape(tf.slice(summed, [0, c * group, 0], [kvHeads, group, d]), [heads, d]);
          const sparse = tf.div(rows, tf.expandDims(tf.maximum(p.mass, 1e-30), 1)) as tf.Tensor2D;
          const t: SelectionTensors = { ref, mask: p.mask, kept: p.kept, mass: p.mass, sparse, n: p.n, attended: p.attended };
          return tf.stack(device.map((m) => m.compute(t))); // [metrics, H], in METRICS order
        }),
      ); // [C, metrics, H]
    });
    deviceValues = (await stacked.data()) as Float32Array;
    stacked.dispose();
  }
  return selections.map(({ tokens }, i) => {
    const [heads, n] = tokens.shape;
    const groupSize = heads / kvHeads;
    const ids = tokenIds[i];
    const loadedPerKvHead = ids ? tokensLoadedPerKvHead(ids, heads, n, kvHeads) : Array.from({ length: kvHeads }, () => n);
    const counts: SelectionCounts = { attended: attendedOf[i] ?? new Array<number>(heads).fill(n), contextLength, loadedPerKvHead, groupSize };
    const base = ids ? sparseOnes.indexOf(i) * device.length * heads : -1;
    const out: HeadMetrics[] = [];
    for (let h = 0; h < heads; h++) {
      const row: Partial<HeadMetrics> = {};
      let k = 0;
      for (const m of all) {
        row[m.name as MetricName] = m.where === 'device' ? (ids ? deviceValues![base + k++ * heads + h] : m.dense) : m.compute(counts, h);
      }
      out.push(row as HeadMetrics);
    }
    return out;
  });
}

/** [H] each head's occupied slots of `tokens` [H * n] (negative: empty), or null when none is empty (or no tokens read). */
function attendedPerHead(tokens: Int32Array | null, heads: number, n: number): Int32Array | null {
  if (!tokens || !tokens.some((t) => t < 0)) return null;
  const out = new Int32Array(heads);
  for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) if (tokens[h * n + i] >= 0) out[h]++;
  return out;
}

/** The flat positions h * T + t of the occupied slots of `tokens` [H * n], head by head. */
function occupiedFlatPositions(tokens: Int32Array, heads: number, n: number, T: number): Int32Array {
  const out: number[] = [];
  for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) if (tokens[h * n + i] >= 0) out.push(h * T + tokens[h * n + i]);
  return Int32Array.from(out);
}

/** GQA accounting: the positions a KV head must load are the union over its query heads' selections (empty slots none). */
export function tokensLoadedPerKvHead(tokens: Int32Array, heads: number, n: number, kvHeads: number): number[] {
  const groupSize = heads / kvHeads;
  const out: number[] = [];
  for (let g = 0; g < kvHeads; g++) {
    const seen = new Set<number>();
    for (let h = g * groupSize; h < (g + 1) * groupSize; h++) {
      for (let i = 0; i < n; i++) if (tokens[h * n + i] >= 0) seen.add(tokens[h * n + i]);
    }
    out.push(seen.size);
  }
  return out;
}
