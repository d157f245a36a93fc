/**
 * Cluster cache accounting: the full KV lives off-GPU and the GPU keeps some units (clusters). A policy sees,
 * per decode step, the units the step needs (S_t, one KV head's union over its query heads) and says which
 * were already resident (hits) and what had to be moved host -> GPU (misses). A whole unit moves on a miss,
 * even when the step uses only part of it (the cut last cluster), because the cluster is the transfer unit.
 *
 * Hit rate in tokens = hitBytes / (hitBytes + bytesMoved), as a unit's bytes are proportional to its tokens.
 * One policy instance per KV head; unit ids are unique within a KV head.
 */
export interface CacheAccess {
  /** units of this step already resident */
  hits: number;
  /** units of this step moved in */
  misses: number;
  /** bytes of the resident units */
  hitBytes: number;
  /** bytes moved host -> GPU this step (the missed units) */
  bytesMoved: number;
}

export interface UnitCachePolicy {
  readonly name: string;
  /**
   * Step `step` (increasing) needs `unitIds` (distinct) whose sizes in bytes are `unitBytes` (aligned).
   * Returns what was resident before this step, then updates the cache to hold what the policy keeps.
   */
  access(step: number, unitIds: Int32Array, unitBytes: number[]): CacheAccess;
}

/** Tallies a step's units against a residency test. */
export function tally(unitIds: Int32Array, unitBytes: number[], resident: (id: number) => boolean): CacheAccess {
  if (unitBytes.length !== unitIds.length) throw new RangeError(`unitBytes has ${unitBytes.length} entries for ${unitIds.length} units`);
  const out: CacheAccess = { hits: 0, misses: 0, hitBytes: 0, bytesMoved: 0 };
  for (let i = 0; i < unitIds.length; i++) {
    if (resident(unitIds[i])) {
      out.hits++;
      out.hitBytes += unitBytes[i];
    } else {
      out.misses++;
      out.bytesMoved += unitBytes[i];
    }
  }
  return out;
}
