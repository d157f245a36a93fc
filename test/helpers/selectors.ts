/** Drives a Method's selectors over in-memory data, one token per decode step, and reads selections back. */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, Method, SelectedUnits } from '../../src/sim/selector.js';

export interface MemoryTrace {
  H: number;
  G: number;
  d: number;
  /** total positions: prefill P plus S decode steps */
  T: number;
  P: number;
  /** [G*T*d] */
  keys: Float32Array;
  /** [G*T*d] */
  values: Float32Array;
  /** [S*H*d], step s's query sits at position P + s */
  queries: Float32Array;
}

export interface StepRecord {
  position: number;
  /** per head, the attended positions in the order returned */
  tokens: number[][];
  selectedCount: number;
  /** per head, how many it chose, where heads differ (Selection.selectedPerHead) */
  selectedPerHead?: number[];
  units?: SelectedUnits;
  stats?: Record<string, number>;
}

export function memoryTrace(rand: () => number, H: number, G: number, d: number, P: number, S: number): MemoryTrace {
  const T = P + S;
  const normal = (n: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return out;
  };
  return { H, G, d, T, P, keys: normal(G * T * d), values: normal(G * T * d), queries: normal(S * H * d) };
}

/** promptQueries [H*P*d]: what the model path gives a selector at prefill (absent: as a trace replay). */
export async function runSelector(method: Method, trace: MemoryTrace, layer = 0, promptQueries?: Float32Array): Promise<StepRecord[]> {
  const { H, G, d, T, P } = trace;
  const info: LayerInfo = { layer, heads: H, kvHeads: G, headDim: d };
  const keys = tf.tensor3d(trace.keys, [G, T, d]);
  const values = tf.tensor3d(trace.values, [G, T, d]);
  const selector = method.forLayer(info);
  const out: StepRecord[] = [];
  try {
    // prompt queries [H, P, d] only when given (the model path's); the layer driver gives none
    tf.tidy(() => selector.prefill(tf.slice(keys, [0, 0, 0], [-1, P, -1]), tf.slice(values, [0, 0, 0], [-1, P, -1]), promptQueries ? tf.tensor3d(promptQueries, [H, P, d]) : undefined));
    for (let position = P; position < T; position++) {
      const s = position - P;
      const q = tf.tensor2d(trace.queries.subarray(s * H * d, (s + 1) * H * d), [H, d]);
      const kNew = tf.slice(keys, [0, position, 0], [-1, 1, -1]);
      const vNew = tf.slice(values, [0, position, 0], [-1, 1, -1]);
      const sel = await selector.step(q, kNew, vNew);
      tf.dispose([q, kNew, vNew]);
      out.push({ position, tokens: (await sel.tokens.array()) as number[][], selectedCount: sel.selectedCount, ...(sel.selectedPerHead && { selectedPerHead: Array.from(sel.selectedPerHead) }), units: sel.units, stats: sel.stats });
      sel.tokens.dispose();
    }
  } finally {
    selector.dispose();
    tf.dispose([keys, values]);
  }
  return out;
}

export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
