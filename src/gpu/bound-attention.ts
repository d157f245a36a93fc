/**
 * Decode attention for a caller that binds its dispatches once and rewrites only uniforms between steps (the
 * WebGPU engine, src/model/engine/decode-engine.ts): the WGSL implementation dispatch picks for the shape and
 * K/V storage (attention.ts's wgslAttentionFor: the declared kernels' order and rules), and that
 * implementation's partial pass, its uniforms, workgroups and splits for n attended rows per head. The merge
 * pass is decode-attention.ts's mergeShader for both.
 *
 *   wgsl-subgroup  subgroup-attention.ts: f32 or packed f16 K/V; chunks sized per step to reach about
 *                  subgroupAttentionTuning.workgroups workgroups; workgroups [streams, splits] (dense: the
 *                  G KV heads, each read once for its query heads; sparse: the H query heads)
 *   wgsl           decode-attention.ts's flash-decoding pass: f32 or f16 K/V read as storage-dtype.ts
 *                  says; a fixed chunk (attentionTuning's, capped for the group), workgroups [splits, G]
 *
 * Bindings of the partial pass, both: 0 params, 1 q [H, d] f32, 2 keys, 3 values [G, rows, d], (sparse:
 * 4 tokens [H, n] i32), then partO [H, splits, d] f32, partML [H, splits] vec2 (m, l).
 */
import { wgslAttentionFor, type WgslAttentionImplementation } from './attention.js';
import type { KvDtype } from './half-tensor.js';
import { queryGroupSize } from './heads.js';
import { attentionTuning, chunkFor, partialShader } from './wgsl/attention/decode-attention.js';
import { subgroupChunks, subgroupLayout, subgroupPartialShader } from './wgsl/attention/subgroup-attention.js';
import type { HalfRead } from './wgsl/engine/storage-dtype.js';
import type { UniformField } from './wgsl/runtime/runtime.js';

export interface BoundAttentionPass {
  implementation: WgslAttentionImplementation;
  sparse: boolean;
  /** WGSL of the partial pass */
  code: string;
  /** its uniform fields for n rows per head (positions 0..n-1, or a token list of n) in a cache of `rows` positions per KV head */
  uniforms(rows: number, n: number): UniformField[];
  /** its workgroups for n */
  workgroups(n: number): [number, number];
  /** chunks (the merge's count) for n */
  splits(n: number): number;
  /** the most chunks any n <= nMax takes (partO and partML are sized for it) */
  maxSplits(nMax: number): number;
}

/** The shape of one decode attention: H query heads and G KV heads over the whole batch, head dimension d. */
export interface BoundAttentionShape {
  H: number;
  G: number;
  d: number;
  kv: KvDtype;
  /** how the flash-decoding pass reads f16 K/V (storage-dtype.ts halfRead) */
  read: HalfRead;
}

/** The implementation for the shape (wgslAttentionFor); a shape no WGSL implementation takes is an error naming it. */
export function boundAttentionImplementation(s: BoundAttentionShape): WgslAttentionImplementation {
  const chosen = wgslAttentionFor(s.H, s.G, s.d, s.kv);
  if (!chosen) throw new RangeError(`decode attention: no WGSL kernel takes ${s.H} query heads over ${s.G} KV heads of dimension ${s.d} with ${s.kv} K/V on this device`);
  return chosen;
}

/** The partial pass of `implementation` (default: the one dispatch picks) for dense (sparse false) or sparse attention. */
export function boundAttentionPass(s: BoundAttentionShape, sparse: boolean, implementation = boundAttentionImplementation(s)): BoundAttentionPass {
  const R = queryGroupSize(s.H, s.G);
  const scale = { f32: 1 / Math.sqrt(s.d) };
  if (implementation === 'wgsl-subgroup') {
    const l = subgroupLayout(sparse, s.kv, s.d, R);
    if (!l) throw new Error('decode attention: no subgroup layout on this device (wgslAttentionFor chose it; the device changed?)');
    const streams = sparse ? s.H : s.G;
    const chunks = (n: number) => subgroupChunks(l, Math.max(1, n), streams);
    // a chunk holds at least one tile of every subgroup (subgroupChunks: tiles >= 1)
    const smallest = l.NSG * (l.mode.size / l.L) * l.U;
    return {
      implementation,
      sparse,
      code: subgroupPartialShader(l),
      uniforms: (rows, n) => {
        const c = chunks(n);
        return [rows, n, c.splits, scale, c.tiles, c.chunk, 0, 0];
      },
      workgroups: (n) => [streams, chunks(n).splits],
      splits: (n) => chunks(n).splits,
      maxSplits: (nMax) => Math.max(1, Math.ceil(nMax / smallest)),
    };
  }
  const C = chunkFor(sparse ? attentionTuning.sparseChunk : attentionTuning.denseChunk, R);
  const splits = (n: number) => Math.max(1, Math.ceil(n / C));
  return {
    implementation,
    sparse,
    code: partialShader(sparse, s.d, R, C, s.kv, s.read),
    uniforms: (rows, n) => [rows, n, splits(n), scale],
    workgroups: (n) => [splits(n), s.G],
    splits,
    maxSplits: splits,
  };
}
