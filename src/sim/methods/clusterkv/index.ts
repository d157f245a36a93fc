/**
 * clusterkv: ClusterKV (Liu et al., arXiv 2412.03213), declared once, in this folder:
 *   params.ts   its parameters with their defaults (docs/DESIGN.md#parameters-of-clusterkv)
 *   plan.ts     the rules every user shares: which positions are clustered into how many clusters (C0 and
 *               the windows), the K-means seeds, the typed parameters of a configured method
 *   layer.ts    ClusterKVLayer, the portable tfjs LayerSelector (prompt and window clustering, selection,
 *               cache accounting), built from src/gpu's kernels
 *   batched.ts  the batched form the WebGPU decode engine keeps per layer (src/model/engine)
 * and here the method definition the registry (../index.ts) lists, with its checks across parameters.
 */
import { validateBudgetParams } from '../budget-params.js';
import { BatchedClusterKV, clusterkvBytes } from './batched.js';
import { ClusterKVLayer } from './layer.js';
import { CLUSTERKV_PARAMS } from './params.js';
import { defineMethod } from '../define.js';

export { CLUSTER_SCORINGS, type ClusterKVParams, type ClusterScoring } from './params.js';

export const clusterkv = defineMethod({
  name: 'clusterkv',
  summary: 'ClusterKV (Liu et al., 2024): keys clustered per KV head; clusters ranked by query score fill the budget',
  budgeted: true,
  params: CLUSTERKV_PARAMS,
  validate: (p) => {
    validateBudgetParams('clusterkv', p);
    if (p.windowClusters > p.window) {
      throw new RangeError(`clusterkv: parameter 'windowClusters' (${p.windowClusters}) exceeds 'window' (${p.window}): more clusters than tokens in a window`);
    }
  },
  selector: (info, p) => new ClusterKVLayer(p, info),
  engine: { kind: 'batched', create: (layer, p) => new BatchedClusterKV(p, layer), bytes: clusterkvBytes },
});
