/**
 * ClusterKV's cache (docs/DESIGN.md#the-gpu-cache, R = 1 by default): the GPU holds the units selected in the last R steps,
 * with no capacity bound. cache_t = units accessed in steps t-R .. t-1.
 */
import { tally, type CacheAccess, type UnitCachePolicy } from './policy.js';

export function lastRSteps(R: number): UnitCachePolicy {
  if (!Number.isInteger(R) || R < 1) throw new RangeError(`cacheSteps (R) must be an integer >= 1, got ${R}`);
  const lastUsed = new Map<number, number>();
  return {
    name: `last-${R}-steps`,
    access(step: number, unitIds: Int32Array, unitBytes: number[]): CacheAccess {
      const out = tally(unitIds, unitBytes, (id) => {
        const at = lastUsed.get(id);
        return at !== undefined && at < step && at >= step - R;
      });
      for (const id of unitIds) lastUsed.set(id, step);
      // forget units that fell out of the window, so the map stays as small as the cache
      for (const [id, at] of lastUsed) if (at < step - R + 1) lastUsed.delete(id);
      return out;
    },
  };
}
