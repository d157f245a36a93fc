export type { CacheAccess, UnitCachePolicy } from './policy.js';
export { tally } from './policy.js';
export { lastRSteps } from './last-r-steps.js';
export { lru } from './lru.js';
export { belady } from './belady.js';
export { unionPerKvHead, type UnitRequest } from './unit-union.js';
