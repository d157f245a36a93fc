/**
 * Token refinement of a candidate pool (ClusterKV's follow-ups, e.g. CTkvr: rank clusters by centroid, then
 * re-rank the tokens of the best ones exactly): per query head, the top B of its candidate positions by the
 * exact score q . k of its KV head's key, ties to the earlier position.
 *   q [H, d]; keys [G, T, d]; candidates [H, n] int32 positions in 0..T-1, distinct per head; B <= n
 *   returns [H, B] int32 positions by descending score (equal scores: earlier position first)
 * Scoring reads the n candidate keys per head (gatherPerHead), the cost a refining step adds to the ranking.
 * Ties: candidates are first put in position order, so tf.topk's rule (equal values: lower index first)
 * becomes the earlier position (positions are exact in float32 below 2^24).
 */
import * as tf from '@tensorflow/tfjs-core';
import { gatherPerHead } from './attention.js';
import { gatherRows } from './gather-rows.js';

/** Candidates per kept token a refining step scores by default: a pool of 4B (the kernel bench's and clusterkv-refine's). */
export const DEFAULT_REFINE_POOL = 4;

export function refineCandidates(q: tf.Tensor2D, keys: tf.Tensor3D, candidates: tf.Tensor2D, budget: number): tf.Tensor2D {
  const [H, d] = q.shape;
  const n = candidates.shape[1];
  if (candidates.shape[0] !== H) throw new RangeError(`candidates must be [H = ${H}, n], got [${candidates.shape.join(', ')}]`);
  if (keys.shape[2] !== d) throw new RangeError(`keys must be [G, T, d = ${d}], got [${keys.shape.join(', ')}]`);
  if (!Number.isInteger(budget) || budget < 0 || budget > n) throw new RangeError(`refinement budget must be an integer in [0, ${n}] (the candidates per head), got ${budget}`);
  if (budget === 0) return tf.zeros([H, 0], 'int32') as tf.Tensor2D;
  return tf.tidy(() => {
    const cand = tf.cast(candidates, 'int32') as tf.Tensor2D;
    // candidates in ascending position order (topk of -position: distinct values, no tie)
    const byPosition = gatherRows(cand, tf.topk(tf.neg(tf.cast(cand, 'float32')), n, true).indices as tf.Tensor2D);
    const scores = tf.sum(tf.mul(tf.expandDims(q, 1), gatherPerHead(keys, byPosition)), 2) as tf.Tensor2D; // [H, n]
    return gatherRows(byPosition, tf.topk(scores, budget, true).indices as tf.Tensor2D);
  });
}
