/** ClusterKV Lab's public API (notebooks import from here or from the folder modules). */
export * from './gpu/backend.js';
export * from './sim/budget.js';
export * from './sim/selector.js';
export * from './sim/metrics.js';
export * from './sim/replay.js';
export * from './sim/sweep.js';
export * from './sim/methods/index.js';
export * from './trace/manifest.js';
