/**
 * clusterkv-refine: ClusterKV with token refinement, centroid-then-token as in CTkvr (Lu et al., arXiv
 * 2512.15550; its centroids are query centroids, here ClusterKV's key clusters). Clusters ranked as ClusterKV ranks them
 * fill a candidate pool of refine x B tokens (ClusterKVLayer at that budget, the last cluster cut), the pool
 * is re-ranked by exact q.k (refineCandidates, src/gpu/refine-candidates.ts, the kernel list's
 * refine-candidates) and its top B are attended, on top of the same forced set.
 * The units and stats reported are the pool's: its clusters' keys are what a step reads to refine.
 * Built on ClusterKVLayer without changing it (the layer keeps its own copy of the keys; this one too, for
 * the exact scores). The decode engine runs refine-batched.ts: the same pool, re-ranked on the GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_REFINE_POOL, refineCandidates } from '../../../gpu/refine-candidates.js';
import { KVStore } from '../../kv-store.js';
import type { LayerInfo, LayerSelector, Selection } from '../../selector.js';
import { planStep, withForced } from '../baseline.js';
import { clusterkv } from './index.js';
import { ClusterKVLayer } from './layer.js';
import { BatchedClusterKVRefine, refineBytes } from './refine-batched.js';
import { CLUSTERKV_PARAMS } from './params.js';
import { defineMethod, intParam, type ParamsOf } from '../define.js';

const PARAMS = {
  ...CLUSTERKV_PARAMS,
  refine: intParam(DEFAULT_REFINE_POOL, 1, 'candidate pool of refine x B tokens from the best clusters, re-ranked by exact q.k to the top B (1: ClusterKV itself)'),
};
export type ClusterKVRefineParams = ParamsOf<typeof PARAMS>;

export const clusterkvRefine = defineMethod({
  name: 'clusterkv-refine',
  summary: "ClusterKV, then token refinement as in CTkvr (Lu et al., 2025): the best clusters' refine x B tokens re-ranked by exact q.k, the top B kept",
  budgeted: true,
  params: PARAMS,
  validate: (p) => clusterkv.validate?.(p),
  selector: (info, p) => refiningSelector(info, p),
  engine: { kind: 'batched', create: (layer, p) => new BatchedClusterKVRefine(p, layer), bytes: refineBytes },
});

function refiningSelector(info: LayerInfo, params: ClusterKVRefineParams): LayerSelector {
  const pool = new ClusterKVLayer({ ...params, budget: params.refine * params.budget }, info);
  const store = new KVStore();
  let prefillLength = -1;
  return {
    prefill(keys, values) {
      pool.prefill(keys, values);
      store.append(keys, values);
      prefillLength = keys.shape[1];
    },
    async step(q, kNew, vNew): Promise<Selection> {
      if (prefillLength < 0) throw new Error('clusterkv-refine: step() before prefill()');
      store.append(kNew, vNew);
      const candidates = await pool.step(q, kNew, vNew);
      try {
        const { layout, forced, chosen } = planStep(store.length - 1, prefillLength, params);
        // the pool's selection is [sinks, its chosen tokens, open window]: the chosen ones are the candidates
        const tokens = tf.tidy(() => {
          if (chosen === 0) return withForced(forced, null, info.heads);
          const cand = tf.slice(candidates.tokens, [0, layout.sinkEnd], [-1, candidates.selectedCount]) as tf.Tensor2D;
          return withForced(forced, refineCandidates(q, store.keys, cand, chosen), info.heads);
        });
        return { tokens, selectedCount: chosen, units: candidates.units, stats: { ...candidates.stats, poolTokens: candidates.selectedCount } };
      } finally {
        candidates.tokens.dispose();
      }
    },
    dispose() {
      pool.dispose();
      store.dispose();
    },
  };
}
