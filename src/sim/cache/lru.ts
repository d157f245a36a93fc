/**
 * A bounded cache of `capacity` units with least-recently-used eviction. A step's units are all made
 * resident (they are needed now), then the least recently used are evicted down to capacity; when a step
 * needs more than capacity units, the ones it touched first are evicted first.
 */
import { tally, type CacheAccess, type UnitCachePolicy } from './policy.js';

export function lru(capacity: number): UnitCachePolicy {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cacheCapacity must be an integer >= 1, got ${capacity}`);
  // Map iteration order is insertion order: re-inserting a key moves it to the most recent end
  const resident = new Map<number, true>();
  return {
    name: `lru-${capacity}`,
    access(_step: number, unitIds: Int32Array, unitBytes: number[]): CacheAccess {
      const out = tally(unitIds, unitBytes, (id) => resident.has(id));
      for (const id of unitIds) {
        resident.delete(id);
        resident.set(id, true);
      }
      for (const id of resident.keys()) {
        if (resident.size <= capacity) break;
        resident.delete(id);
      }
      return out;
    },
  };
}
