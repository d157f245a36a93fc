/**
 * What one KV head must have on the GPU at a step: the union of the units its query heads selected (GQA: the
 * group's queries share the KV head's cache). Shared by ClusterKV's own cache accounting and cachesim.
 */

/** One KV head's request at one step: distinct unit ids and their sizes in tokens (aligned). */
export interface UnitRequest {
  ids: Int32Array;
  sizes: Int32Array;
}

/**
 * ids, sizes: per query head (H of them), the units it selected and their sizes; query head h belongs to KV
 * head floor(h / (H / G)). Returns one request per KV head, units in first-seen order.
 */
export function unionPerKvHead(ids: readonly Int32Array[], sizes: readonly Int32Array[], kvHeads: number): UnitRequest[] {
  const heads = ids.length;
  const group = heads / kvHeads;
  const out: UnitRequest[] = [];
  for (let g = 0; g < kvHeads; g++) {
    const size = new Map<number, number>();
    for (let h = g * group; h < (g + 1) * group; h++) ids[h].forEach((id, j) => size.set(id, sizes[h][j]));
    out.push({ ids: Int32Array.from(size.keys()), sizes: Int32Array.from(size.values()) });
  }
  return out;
}
