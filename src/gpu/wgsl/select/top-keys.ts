/**
 * Exact top-n selection on the GPU, tf.topk's rule: per row, the n largest scores, ties to the lower index.
 * Scores are held as order-preserving u32 keys (orderKey: -0 as +0, as floats compare), so
 *   radix select  four passes of 8 bits (a 256-bin histogram in workgroup memory each) find the n-th
 *                 largest key T and how many keys equal to T are taken (those above T are all taken)
 *   compaction    one more pass in index order: a key above T is taken, a key equal to T is taken while
 *                 fewer than that many equal keys came before it (the lower indices first); each taken
 *                 index goes to the slot counting the taken indices before it (a workgroup prefix sum)
 * so the taken indices come out ascending. topKeysCode is the WGSL of both stages over any key array (the
 * oracle's scores here; H2O's accumulated attention in h2o-select.ts); topScoresShader is the oracle's
 * kernel (q.k of every selectable position, then its top n) and clusterkv-refine's (q.k of a candidate pool).
 */
import { halfRead, keyStorage, type HalfRead, type StorageDType } from '../engine/storage-dtype.js';
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';

/** Threads per workgroup of the top-n kernels (one workgroup per row). */
export const TOP_KEYS_WORKGROUP = 256;

/** WGSL declarations topKeysCode needs: its workgroup memory and orderKey. */
export function topKeysDecls(): string {
  return /* wgsl */ `
var<workgroup> topHist: array<atomic<u32>, 256>;
var<workgroup> topScan: array<u32, ${TOP_KEYS_WORKGROUP}>;
var<workgroup> topPrefix: u32;
var<workgroup> topRemaining: u32;

// order-preserving map of a float to u32 (-0 as +0, so that they tie as floats do)
fn orderKey(s: f32) -> u32 {
  let bits = bitcast<u32>(select(s, 0.0, s == 0.0));
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}
`;
}

export interface TopKeysCode {
  /** WGSL expression of key j (u32), for j < m; may be read several times */
  key: (j: string) => string;
  /** WGSL expressions (uniform across the workgroup) of the row's key count m and the count n to take, 1 <= n <= m */
  m: string;
  n: string;
  /** WGSL statement that takes index j into output slot `slot` (0..n-1) */
  emit: (slot: string, j: string) => string;
  /** the thread index variable (local_invocation_index) */
  t: string;
}

/** WGSL statements of the top-n selection of one row (uniform control flow; topKeysDecls declared). */
export function topKeysCode(c: TopKeysCode): string {
  const WG = TOP_KEYS_WORKGROUP;
  return /* wgsl */ `
  // radix select: the n-th largest key T, 8 bits a pass from the top
  var topT = 0u;
  var topMask = 0u;
  var topTake = ${c.n};
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    for (var b = ${c.t}; b < 256u; b += ${WG}u) { atomicStore(&topHist[b], 0u); }
    workgroupBarrier();
    for (var j = ${c.t}; j < ${c.m}; j += ${WG}u) {
      let k = ${c.key('j')};
      if ((k & topMask) == topT) { atomicAdd(&topHist[(k >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (${c.t} == 0u) {
      var above = 0u;
      var b = 255u;
      loop {
        let count = atomicLoad(&topHist[b]);
        if (above + count >= topTake || b == 0u) { break; }
        above += count;
        b -= 1u;
      }
      topPrefix = topT | (b << shift);
      topRemaining = topTake - above;
    }
    topT = workgroupUniformLoad(&topPrefix);
    topTake = workgroupUniformLoad(&topRemaining);
    topMask = topMask | (255u << shift);
  }
  // compaction in index order: keys above T, then the first topTake keys equal to T
  var aboveRun = 0u;
  var equalRun = 0u;
  for (var c0 = 0u; c0 < ${c.m}; c0 += ${WG}u) {
    let j = c0 + ${c.t};
    var flag = 0u;
    if (j < ${c.m}) {
      let k = ${c.key('j')};
      if (k > topT) { flag = 1u; } else if (k == topT) { flag = 65536u; }
    }
    topScan[${c.t}] = flag;
    workgroupBarrier();
    for (var off = 1u; off < ${WG}u; off <<= 1u) {
      var v = 0u;
      if (${c.t} >= off) { v = topScan[${c.t} - off]; }
      workgroupBarrier();
      topScan[${c.t}] += v;
      workgroupBarrier();
    }
    let before = topScan[${c.t}] - flag;
    let aboveBefore = aboveRun + (before & 65535u);
    let equalBefore = equalRun + (before >> 16u);
    if (flag == 1u) {
      ${c.emit('aboveBefore + min(equalBefore, topTake)', 'j')}
    } else if (flag != 0u && equalBefore < topTake) {
      ${c.emit('aboveBefore + equalBefore', 'j')}
    }
    let total = topScan[${WG - 1}u];
    aboveRun += total & 65535u;
    equalRun += total >> 16u;
    workgroupBarrier();
  }`;
}

/**
 * WGSL of score(r, g, p) = q_r . k_p, KV head g's key at position p, for a shader with q [R, d] (vec4 rows
 * where d is a multiple of 4), keys read by `load` (keyStorage) and P.capacity positions per KV head.
 */
export function scoreFunction(headDim: number, load: (i: string) => string): string {
  const vec = headDim % 4 === 0;
  return /* wgsl */ `
const DV: u32 = ${vec ? headDim / 4 : headDim}u;
fn score(r: u32, g: u32, p: u32) -> f32 {
  var acc = ${vec ? 'vec4<f32>' : 'f32'}(0.0);
  let kb = (g * P.capacity + p) * DV;
  for (var i = 0u; i < DV; i++) { acc += q[r * DV + i] * ${load('kb + i')}; }
  return ${vec ? 'acc.x + acc.y + acc.z + acc.w' : 'acc'};
}`;
}

/**
 * Where the candidates of a top-scores row come from: 'range', the m positions start..start+m-1 (the
 * oracle: every selectable position); 'pool', a list of distinct positions per row inside that range
 * (clusterkv-refine: the best clusters' tokens), whose scores are scattered into the row by position so that
 * topKeysCode's lower-index rule is the lower-position rule refineCandidates (src/gpu/refine-candidates.ts)
 * applies; positions not in the pool keep key 0, below every float's key but a negative NaN's.
 */
export type TopCandidates = 'range' | 'pool';

/**
 * WGSL of the top-scores selection: per query head r (KV head r / group), the scores q_r . k_p of its
 * candidate positions p (raw inner products, as oracle.ts's matMul; candidates as TopCandidates says), then
 * the n largest, ties to the lower position. Bindings: 0 params {group, capacity T, start, m, n, stride,
 * pool}, 1 q [R, d] f32, 2 keys [R / group, T, d] stored as `keys` says (f16: the engine's f16 KV cache, read
 * as storage-dtype.ts says, d a multiple of 4), 3 scores [R, stride] u32 (scratch), 4 out [R, n] i32, and with
 * 'pool' 5 pool [R, pool] i32 (positions in start..start+m-1). Workgroups: R.
 */
export function topScoresShader(headDim: number, keys: StorageDType = 'f32', read: HalfRead = 'unpacked', candidates: TopCandidates = 'range'): string {
  const V = headDim % 4 === 0 ? 'vec4<f32>' : 'f32';
  const K = keyStorage('keys', 2, headDim, keys, read, 'top scores');
  const WG = TOP_KEYS_WORKGROUP;
  return /* wgsl */ `${K.enable}
struct Params { group: u32, capacity: u32, start: u32, m: u32, n: u32, stride: u32, pool: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<${V}>;
${K.decl}
@group(0) @binding(3) var<storage, read_write> scores: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<i32>;
${candidates === 'pool' ? '@group(0) @binding(5) var<storage, read> pool: array<i32>;' : ''}
${K.helpers}
${topKeysDecls()}
${scoreFunction(headDim, K.load)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wid.x;
  let g = r / P.group;
  let base = r * P.stride;
${candidates === 'range' ? /* wgsl */ `
  for (var j = t; j < P.m; j += ${WG}u) { scores[base + j] = orderKey(score(r, g, P.start + j)); }` : /* wgsl */ `
  for (var j = t; j < P.m; j += ${WG}u) { scores[base + j] = 0u; }
  storageBarrier();
  for (var i = t; i < P.pool; i += ${WG}u) {
    let p = u32(pool[r * P.pool + i]);
    scores[base + p - P.start] = orderKey(score(r, g, p));
  }`}
  storageBarrier();
${topKeysCode({ key: (j) => `scores[base + ${j}]`, m: 'P.m', n: 'P.n', t: 't', emit: (slot, j) => `out[r * P.n + ${slot}] = i32(P.start + ${j});` })}
}
`;
}

/**
 * The top-scores selection for `rows` query heads, bound once to q, keys, a score scratch [rows, stride], out
 * [rows, >= n] and, for 'pool' candidates, the pool [rows, >= pool] (the oracle: 'range'; clusterkv-refine: 'pool').
 */
export class TopScoresKernel {
  private readonly bound: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(
    rows: number,
    private readonly group: number,
    private readonly capacity: number,
    private readonly stride: number,
    headDim: number,
    buffers: { q: GPUBuffer; keys: GPUBuffer; scores: GPUBuffer; out: GPUBuffer; pool?: GPUBuffer },
    label: string,
    keys: StorageDType = 'f32',
  ) {
    this.uniform = new UniformBlock([group, capacity, 0, 1, 1, stride, 0]);
    const candidates: TopCandidates = buffers.pool ? 'pool' : 'range';
    const bind = [buffers.q, buffers.keys, buffers.scores, buffers.out, ...(buffers.pool ? [buffers.pool] : [])];
    this.bound = bindDispatch(topScoresShader(headDim, keys, halfRead(), candidates), this.uniform, bind, [rows], 'selection', label);
  }

  /**
   * The dispatch taking the top n per query head of positions start..start+m-1 (1 <= n <= m <= stride), or,
   * bound to a pool, of the `pool` positions of each pool row (all inside that range; 1 <= n <= pool).
   */
  dispatch(start: number, m: number, n: number, pool = 0): BoundDispatch {
    if (m > this.stride) throw new RangeError(`top scores: ${m} positions exceed the scratch row's ${this.stride}`);
    this.uniform.write([this.group, this.capacity, start, m, n, this.stride, pool]);
    return this.bound;
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
