/** GQA head mapping shared by the kernels: query head h reads KV head floor(h / (H / G)). */

export function queryGroupSize(heads: number, kvHeads: number): number {
  if (!Number.isInteger(heads) || !Number.isInteger(kvHeads) || kvHeads <= 0 || heads <= 0 || heads % kvHeads !== 0) {
    throw new RangeError(`query heads (H = ${heads}) must be a positive multiple of KV heads (G = ${kvHeads})`);
  }
  return heads / kvHeads;
}

/** [H] the KV head of each query head. */
export function kvHeadOfQueryHead(heads: number, kvHeads: number): Int32Array {
  const group = queryGroupSize(heads, kvHeads);
  const out = new Int32Array(heads);
  for (let h = 0; h < heads; h++) out[h] = Math.floor(h / group);
  return out;
}
