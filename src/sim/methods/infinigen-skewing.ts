/**
 * InfiniGen's skewing and partial channels (Lee et al., OSDI 2024), per query head h from calibration
 * vectors Q_h [n, d] (its queries; see infinigen.ts for what a path has):
 *   skew      A_h = V_h, the right singular vectors of Q_h (Q_h = U S V_h^T), by descending singular value:
 *             Q_h A_h = U S concentrates the queries' magnitude in a few leading columns, and since A_h is
 *             orthogonal, (q A_h) . (k A_h) = q . k for every key
 *   channels  the k columns of Q_h A_h with the largest sums of |.| over the calibration queries (InfiniGen's
 *             partial query weight; its artifact also adds the key cache's top columns, which we do not, so
 *             that the ratio is exactly k / d)
 *   score     the partial product (q A_h)[c] . (k A_h)[c] over those channels c = q M_h k with
 *             M_h = A_h[:, c] A_h[:, c]^T [d, d], so a query is mapped once, q' = q M_h, and scored against
 *             the full keys: the same numbers InfiniGen's partial key cache gives
 * The SVD is the eigen-decomposition of the Gram matrix Q_h^T Q_h, on the host (symmetric-eigen.ts): it is
 * computed once per layer and needs a readback, so it runs at the first decode step (asynchronously).
 */
import * as tf from '@tensorflow/tfjs-core';
import { symmetricEigen } from '../symmetric-eigen.js';

/** Partial channels of a head dimension d at ratio r: floor(r d), at least 1 (InfiniGen's int(d * ratio)). */
export function partialChannelCount(headDim: number, ratio: number): number {
  return Math.max(1, Math.floor(headDim * ratio));
}

/** The indices of the k largest values of `x` (descending; ties to the lower index). */
export function topIndices(x: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: x.length }, (_, i) => i)
    .sort((a, b) => x[b] - x[a] || a - b)
    .slice(0, k);
}

/** The skewing basis of each head: A [H, d, d] (column j: the j-th right singular vector of Q_h). queries: [H, n, d]. */
export async function skewingBasis(queries: tf.Tensor3D): Promise<tf.Tensor3D> {
  const [H, , d] = queries.shape;
  const gram = tf.matMul(queries, queries, true, false); // [H, d, d]
  const data = await gram.data();
  gram.dispose();
  const basis = new Float32Array(H * d * d);
  for (let h = 0; h < H; h++) basis.set(symmetricEigen(data.subarray(h * d * d, (h + 1) * d * d), d).vectors, h * d * d);
  return tf.tensor3d(basis, [H, d, d]);
}

/**
 * The query map M [H, d, d] of each head's partial channels (see above) and the channels [H][k] chosen.
 * queries: [H, n, d] calibration queries; k: channels per head.
 */
export async function partialQueryMap(queries: tf.Tensor3D, k: number): Promise<{ map: tf.Tensor3D; channels: number[][] }> {
  const [H, , d] = queries.shape;
  if (!(Number.isInteger(k) && k >= 1 && k <= d)) throw new RangeError(`partial channels must be an integer in [1, ${d}], got ${k}`);
  const basis = await skewingBasis(queries);
  try {
    const sums = tf.tidy(() => tf.sum(tf.abs(tf.matMul(queries, basis)), 1)); // [H, d]
    const sumData = await sums.data();
    sums.dispose();
    const channels = Array.from({ length: H }, (_, h) => topIndices(sumData.subarray(h * d, (h + 1) * d), k));
    const map = tf.tidy(() => {
      const picked = tf.stack(channels.map((c, h) => tf.gather(tf.squeeze(tf.slice(basis, [h, 0, 0], [1, d, d]), [0]), tf.tensor1d(c, 'int32'), 1))) as tf.Tensor3D; // [H, d, k]
      return tf.matMul(picked, picked, false, true) as tf.Tensor3D;
    });
    return { map, channels };
  } finally {
    basis.dispose();
  }
}

/** q' [H, d] = q M per head: the query restricted to its head's partial channels (in the original coordinates). */
export function partialQuery(q: tf.Tensor2D, map: tf.Tensor3D): tf.Tensor2D {
  const [H, d] = q.shape;
  return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(q, [H, 1, d]), map), [H, d]) as tf.Tensor2D);
}

/** [H, n, d] the prompt keys after the sinks (all of them if that leaves none), query head h getting its KV head's. keys: [G, P, d]. */
export function selectablePromptKeys(keys: tf.Tensor3D, sinks: number, kvOf: Int32Array): tf.Tensor3D {
  const P = keys.shape[1];
  const from = sinks < P ? sinks : 0;
  return tf.gather(tf.slice(keys, [0, from, 0], [-1, P - from, -1]), tf.tensor1d(kvOf, 'int32')) as tf.Tensor3D;
}
