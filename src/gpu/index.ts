/** The ClusterKV attention path on tfjs. */
export * from './backend.js';
export * from './kmeans.js';
export * from './clusterIndex.js';
export * from './selection.js';
export * from './attention.js';
export * from './clusterkvAttention.js';
export * from './heads.js';
export * from './random.js';
export * from './timing.js';
export * from './cache/index.js';
