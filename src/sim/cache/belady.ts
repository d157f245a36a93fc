/**
 * Belady's optimum (MIN): with the whole future known, evict the unit whose next use is furthest away
 * (never-again first). Same cache model as lru(capacity): a step's units are all made resident, then units
 * are evicted down to `capacity` units; here the victims are those used furthest in the future. It gives
 * the fewest missed units any policy of that capacity can have, so it bounds LRU and friends.
 *
 * It needs the access sequence up front: `future[i]` is the unit ids of the i-th access() call (one KV
 * head's steps in order, as recorded by a first pass of the replay); a call that differs is an error.
 */
import { tally, type CacheAccess, type UnitCachePolicy } from './policy.js';

export function belady(capacity: number, future: readonly Int32Array[]): UnitCachePolicy {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`cacheCapacity must be an integer >= 1, got ${capacity}`);
  const nextUse = nextUses(future);
  /** resident unit -> index of the access that uses it next (Infinity: never again) */
  const resident = new Map<number, number>();
  let call = 0;
  return {
    name: `belady-${capacity}`,
    access(_step: number, unitIds: Int32Array, unitBytes: number[]): CacheAccess {
      const i = call++;
      if (i >= future.length) throw new RangeError(`belady: access ${i} is past the ${future.length} recorded accesses`);
      const want = future[i];
      if (want.length !== unitIds.length || want.some((id, j) => id !== unitIds[j])) {
        throw new RangeError(`belady: access ${i} asks for units other than the recorded ones (the policy must replay the sequence it was built from)`);
      }
      const out = tally(unitIds, unitBytes, (id) => resident.has(id));
      for (let j = 0; j < unitIds.length; j++) resident.set(unitIds[j], nextUse[i][j]);
      if (resident.size > capacity) {
        const victims = [...resident.entries()].sort((a, b) => b[1] - a[1]).slice(0, resident.size - capacity);
        for (const [id] of victims) resident.delete(id);
      }
      return out;
    },
  };
}

/** For each access i and unit j of it, the index of the next access that uses the same unit, or Infinity. */
function nextUses(future: readonly Int32Array[]): Float64Array[] {
  const seen = new Map<number, number>();
  const out: Float64Array[] = new Array(future.length);
  for (let i = future.length - 1; i >= 0; i--) {
    const ids = future[i];
    const next = new Float64Array(ids.length);
    for (let j = 0; j < ids.length; j++) next[j] = seen.get(ids[j]) ?? Infinity;
    for (let j = 0; j < ids.length; j++) seen.set(ids[j], i);
    out[i] = next;
  }
  return out;
}
