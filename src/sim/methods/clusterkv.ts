/**
 * clusterkv: ClusterKV (arXiv 2412.03213) as a Method; src/gpu's ClusterKVAttention does the work.
 * Dense first layers (denseLayers) are the registry's shared accounting (methods/index.ts), as for every method.
 */
import { CLUSTERKV_ATTENTION_DEFAULTS, ClusterKVAttention, validateClusterKVParams, type ClusterKVAttentionParams } from './clusterkv-layer.js';
import type { LayerInfo, LayerSelector, Method } from '../selector.js';

export type ClusterKVMethodParams = ClusterKVAttentionParams;

export const CLUSTERKV_DEFAULTS: Omit<ClusterKVMethodParams, 'budget'> = { ...CLUSTERKV_ATTENTION_DEFAULTS };

export function clusterkvMethod(options: Partial<ClusterKVMethodParams> & { budget: number }): Method {
  const params: ClusterKVMethodParams = { ...CLUSTERKV_DEFAULTS, ...options };
  const known = new Set([...Object.keys(CLUSTERKV_DEFAULTS), 'budget']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RangeError(`clusterkv: unknown parameter '${key}' (it takes ${[...known].join(', ')})`);
  }
  validateClusterKVParams(params);
  return {
    name: 'clusterkv',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer(info: LayerInfo): LayerSelector {
      return new ClusterKVAttention(params, info);
    },
  };
}
