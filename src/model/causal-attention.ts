/**
 * Exact causal softmax attention (GQA) for a block of consecutive queries, chunked over queries so that a
 * long context never materialises a [T, T] score matrix per head: each chunk holds at most
 * `maxScoreElements` scores (all heads together).
 *
 * Written for tfjs-wasm's strengths: one 2D matMul per KV head (batched matMul runs ~20x slower there than
 * 2D XNNPACK ones), keys and values held per KV head, and chunk operands cut out in JS from typed arrays
 * (wasm's Slice of a large tensor cost more than the matMuls it feeds).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Scores held at once by one query chunk (4M floats = 16 MB: chunks that fit in cache ran 2-3x faster on wasm than 64 MB ones). */
export const DEFAULT_MAX_SCORE_ELEMENTS = 1 << 22;

/** One KV head's cache: keys transposed [d, T] (so matMul needs no transposeB) and values [T, d]. */
export interface KvHeadCache {
  keysT: tf.Tensor2D;
  values: tf.Tensor2D;
}

/**
 * Queries q [n, H, d] sit at positions queryStart..queryStart+n-1; query i attends keys 0..queryStart+i.
 * kv: G KV heads, each keysT [d, T], values [T, d], T >= queryStart+n. Query head h reads KV head
 * floor(h / (H / G)). Scores are scaled by 1/sqrt(d). Returns [n, H, d].
 */
export function causalAttention(q: tf.Tensor3D, kv: readonly KvHeadCache[], queryStart: number, maxScoreElements = DEFAULT_MAX_SCORE_ELEMENTS): tf.Tensor3D {
  const [n, H, d] = q.shape;
  const G = kv.length;
  const T = kv[0].keysT.shape[1];
  if (H % G !== 0) throw new RangeError(`query heads (${H}) must be a multiple of KV heads (${G})`);
  if (queryStart + n > T) throw new RangeError(`queries reach position ${queryStart + n - 1} but only ${T} keys are given`);
  const hq = H / G;
  const scale = 1 / Math.sqrt(d);
  if (n === 1) {
    // a decode step: every cached key is visible, no mask, no chunking
    return tf.tidy(() => {
      const heads = tf.reshape(q, [H, d]);
      const groups = kv.map((c, g) => {
        const qg = G === 1 ? heads : tf.slice(heads, [g * hq, 0], [hq, d]);
        const probs = tf.softmax(tf.mul(tf.matMul(qg, c.keysT), scale));
        return tf.matMul(probs, c.values);
      });
      return tf.reshape(G === 1 ? groups[0] : tf.concat(groups, 0), [1, H, d]) as tf.Tensor3D;
    });
  }
  const chunk = Math.max(1, Math.floor(maxScoreElements / (H * (queryStart + n))));
  const cut = operandCutter(q, kv);
  const outs: tf.Tensor3D[] = [];
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    const tk = queryStart + s + c; // keys this chunk can see
    outs.push(
      tf.tidy(() => {
        const mask = tf.reshape(causalMask(c, tk), [c, 1, tk]);
        const groups: tf.Tensor[] = [];
        for (let g = 0; g < G; g++) {
          const qg = cut.queries(s, c, g * hq, hq);
          const kT = tk === T ? kv[g].keysT : cut.keysT(g, tk);
          const v = tk === T ? kv[g].values : cut.values(g, tk);
          const scores = tf.add(tf.reshape(tf.mul(tf.matMul(qg, kT), scale), [c, hq, tk]), mask);
          const probs = tf.reshape(tf.softmax(scores), [c * hq, tk]);
          groups.push(tf.reshape(tf.matMul(probs, v), [c, hq, d]));
        }
        return (G === 1 ? groups[0] : tf.concat(groups, 1)) as tf.Tensor3D;
      }),
    );
  }
  if (outs.length === 1) return outs[0];
  const out = tf.concat(outs, 0);
  for (const t of outs) t.dispose();
  return out;
}

/** Cuts the chunk operands: queries [c*hq, d] of rows s..s+c-1 and heads h0..h0+hq-1, keysT [d, tk], values [tk, d]. */
interface OperandCutter {
  queries(s: number, c: number, h0: number, hq: number): tf.Tensor2D;
  keysT(g: number, tk: number): tf.Tensor2D;
  values(g: number, tk: number): tf.Tensor2D;
}

/**
 * On cpu and wasm the operands are cut in JS from the tensors' host arrays (wasm's Slice of a large tensor
 * cost more than the matMuls it feeds); elsewhere (webgpu, tensorflow) with tf.slice on the device, since
 * their data lives on the GPU and a synchronous read is impossible (webgpu) or a round trip.
 */
function operandCutter(q: tf.Tensor3D, kv: readonly KvHeadCache[]): OperandCutter {
  const [, H, d] = q.shape;
  const T = kv[0].keysT.shape[1];
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    return {
      queries: (s, c, h0, hq) => tf.reshape(tf.slice(q, [s, h0, 0], [c, hq, d]), [c * hq, d]) as tf.Tensor2D,
      keysT: (g, tk) => tf.slice(kv[g].keysT, [0, 0], [d, tk]),
      values: (g, tk) => tf.slice(kv[g].values, [0, 0], [tk, d]),
    };
  }
  const qData = q.dataSync() as Float32Array;
  const kData = kv.map((c) => c.keysT.dataSync() as Float32Array);
  const vData = kv.map((c) => c.values.dataSync() as Float32Array);
  return {
    queries: (s, c, h0, hq) => tf.tensor2d(groupQueries(qData, s, c, H, d, h0, hq), [c * hq, d]),
    keysT: (g, tk) => tf.tensor2d(keyColumns(kData[g], d, T, tk), [d, tk]),
    values: (g, tk) => tf.tensor2d(vData[g].subarray(0, tk * d), [tk, d]),
  };
}

/** Rows (position s..s+c-1, heads h0..h0+hq-1) of q [n, H, d] as [c*hq, d]. */
function groupQueries(src: Float32Array, s: number, c: number, H: number, d: number, h0: number, hq: number): Float32Array {
  const out = new Float32Array(c * hq * d);
  for (let i = 0; i < c; i++) out.set(src.subarray(((s + i) * H + h0) * d, ((s + i) * H + h0 + hq) * d), i * hq * d);
  return out;
}

/** The first tk columns of a [d, T] matrix. */
function keyColumns(src: Float32Array, d: number, T: number, tk: number): Float32Array {
  const out = new Float32Array(d * tk);
  for (let r = 0; r < d; r++) out.set(src.subarray(r * T, r * T + tk), r * tk);
  return out;
}

/** [c, tk] additive mask: 0 where key j <= query position (tk - c + i), a large negative number after it. */
function causalMask(c: number, tk: number): tf.Tensor2D {
  const mask = new Float32Array(c * tk);
  const first = tk - c;
  for (let i = 0; i < c; i++) mask.fill(-1e30, i * tk + first + i + 1, (i + 1) * tk);
  return tf.tensor2d(mask, [c, tk]);
}
