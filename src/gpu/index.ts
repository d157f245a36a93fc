/** The ClusterKV attention path on tfjs. */
export * from './backend.js';
export * from './kmeans.js';
export * from './cluster-index.js';
export * from './selection.js';
export * from './attention.js';
export * from './heads.js';
export { mulberry32, distinctIndices } from '../trace/random.js';
export * from './decode-step.js';
export * from './kernel-path.js';
export * from './kernel-dispatch.js';
export * from './kernel-inputs.js';
export * from './kernel-list.js';
export * from './half-tensor.js';
