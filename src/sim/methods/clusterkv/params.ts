/** ClusterKV's parameters with their defaults (docs/DESIGN.md#parameters-of-clusterkv). */
import { BUDGET_PARAMS } from '../budget-params.js';
import { choiceParam, flagParam, intParam, positiveParam, type ParamsOf } from '../define.js';

export const CLUSTER_SCORINGS = ['centroid', 'bound'] as const;
export type ClusterScoring = (typeof CLUSTER_SCORINGS)[number];

export const CLUSTERKV_PARAMS = {
  ...BUDGET_PARAMS,
  tokensPerCluster: intParam(80, 1, 'prompt clusters C0 = ceil(L / tokensPerCluster), L = prompt tokens after the sinks (when clusters is 0)'),
  clusters: intParam(0, 0, 'a fixed prompt cluster count C0; 0: derive it from tokensPerCluster'),
  iters: intParam(20, 0, 'K-means iterations (cosine assignment, mean-of-raw-keys update)'),
  seed: intParam(0, 0, 'K-means seed; each layer and decode window derives its own'),
  windowClusters: intParam(4, 1, 'clusters per closed decode window (C+)'),
  scoring: choiceParam<ClusterScoring>('centroid', CLUSTER_SCORINGS, "how a query scores a cluster: 'centroid' q.c (the paper); 'bound' Quest's upper bound over the cluster's min/max box"),
  cacheSteps: intParam(1, 1, 'the GPU cache keeps the clusters selected in the last R steps'),
  cacheCapacity: intParam(0, 0, '0: unbounded cache (last R steps); > 0: LRU over this many clusters per KV head'),
  bytesPerValue: positiveParam(2, 'bytes per stored K or V element, for bytes moved host->GPU (2: fp16)'),
  diagnostics: flagParam(true, "read back each step's cluster choice for stats and cache accounting (a device->host copy)"),
};
export type ClusterKVParams = ParamsOf<typeof CLUSTERKV_PARAMS>;
