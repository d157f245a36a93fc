/**
 * clusterkv: ClusterKV (arXiv 2412.03213) as a Method. Layers below `denseLayers` attend everything (as the
 * paper keeps its first layers dense); the others use src/gpu's ClusterKVAttention, which does the work.
 */
import { CLUSTERKV_ATTENTION_DEFAULTS, ClusterKVAttention, validateClusterKVParams, type ClusterKVAttentionParams } from '../../gpu/clusterkvAttention.js';
import type { LayerInfo, LayerSelector, Method } from '../selector.js';
import { fullSelector } from './full.js';
import { requireInt } from './params.js';

export interface ClusterKVMethodParams extends ClusterKVAttentionParams {
  /** layers 0..denseLayers-1 stay dense */
  denseLayers: number;
}

export const CLUSTERKV_DEFAULTS: Omit<ClusterKVMethodParams, 'budget'> = { ...CLUSTERKV_ATTENTION_DEFAULTS, denseLayers: 2 };

export function clusterkvMethod(options: Partial<ClusterKVMethodParams> & { budget: number }): Method {
  const params: ClusterKVMethodParams = { ...CLUSTERKV_DEFAULTS, ...options };
  const known = new Set([...Object.keys(CLUSTERKV_DEFAULTS), 'budget']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new RangeError(`clusterkv: unknown parameter '${key}' (it takes ${[...known].join(', ')})`);
  }
  validateClusterKVParams(params);
  requireInt('clusterkv', 'denseLayers', params.denseLayers, 0);
  return {
    name: 'clusterkv',
    params: { ...params },
    budget: params.budget,
    budgetMode: params.budgetMode,
    forLayer(info: LayerInfo): LayerSelector {
      return info.layer < params.denseLayers ? fullSelector(info) : new ClusterKVAttention(params, info);
    },
  };
}
