/**
 * InfiniGen's threshold selection on the GPU (src/sim/methods/infinigen.ts, select 'threshold'): a sequence's
 * layer fetches b = min(n, floor(mean over its H query heads of #{j : logit_j >= max(logit) - alpha})) tokens
 * per head, the top b by score (tf.topk's rule), logit = score x scale. b depends on the data, per sequence
 * and layer, while the engine attends one list length per step: each row has n slots, the top b filled and
 * the rest empty (-1), which the sparse attention kernels skip (decode-attention.ts, subgroup-attention.ts).
 * Two dispatches, one workgroup per query head:
 *   count   the row's scores s_j = q_r . k_p over its m candidate positions (stored as their f32 bits), the
 *           maximum logit and the count of logits within alpha of it, in f32 as the tfjs path computes them
 *           (max(s) x scale is max(s x scale): rounding is monotone)
 *   top     b from the counts of the row's sequence, then the top b of the stored scores (top-keys.ts's radix
 *           select and compaction, positions ascending), slots b..n-1 set to -1
 */
import { halfRead, keyStorage, type HalfRead, type StorageDType } from '../engine/storage-dtype.js';
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';
import { scoreFunction, topKeysCode, topKeysDecls, TOP_KEYS_WORKGROUP } from './top-keys.js';
import { EMPTY_SLOT } from '../../empty-slot.js';

/**
 * WGSL of the count. Bindings: 0 params {group, capacity T, start, m, scale f32, alpha f32}, 1 q [R, d] f32,
 * 2 keys [R / group, T, d] (stored as `keys` says), 3 scores [R, stride] u32 (written: bitcast of s_j), 4
 * counts [R] u32. Workgroups: R.
 */
export function thresholdCountShader(headDim: number, keys: StorageDType = 'f32', read: HalfRead = 'unpacked', stride: number): string {
  const K = keyStorage('keys', 2, headDim, keys, read, 'threshold count');
  const WG = TOP_KEYS_WORKGROUP;
  return /* wgsl */ `${K.enable}
struct Params { group: u32, capacity: u32, start: u32, m: u32, scale: f32, alpha: f32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<${headDim % 4 === 0 ? 'vec4<f32>' : 'f32'}>;
${K.decl}
@group(0) @binding(3) var<storage, read_write> scores: array<u32>;
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
${K.helpers}
${scoreFunction(headDim, K.load)}
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> cnt: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wid.x;
  let g = r / P.group;
  let base = r * ${stride}u;
  var mx = -3.402823e38;
  for (var j = t; j < P.m; j += ${WG}u) {
    let s = score(r, g, P.start + j);
    scores[base + j] = bitcast<u32>(s);
    mx = max(mx, s * P.scale);
  }
  red[t] = mx;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { red[t] = max(red[t], red[t + w]); }
    workgroupBarrier();
  }
  let cut = red[0] - P.alpha;
  var c = 0u;
  for (var j = t; j < P.m; j += ${WG}u) {
    if (bitcast<f32>(scores[base + j]) * P.scale >= cut) { c += 1u; }
  }
  cnt[t] = c;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w >>= 1u) {
    if (t < w) { cnt[t] += cnt[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { counts[r] = cnt[0]; }
}
`;
}

/**
 * WGSL of the top. Bindings: 0 params {start, m, n, heads H}, 1 scores [R, stride] u32 (the count's), 2
 * counts [R] u32, 3 out [R, n] i32. Workgroups: R (rows of sequence b are b H .. b H + H - 1).
 */
export function countedTopShader(stride: number): string {
  const WG = TOP_KEYS_WORKGROUP;
  return /* wgsl */ `
struct Params { start: u32, m: u32, n: u32, heads: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> scores: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;
${topKeysDecls()}
var<workgroup> take: u32;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wid.x;
  let base = r * ${stride}u;
  if (t == 0u) {
    let first = (r / P.heads) * P.heads;
    var total = 0u;
    for (var h = 0u; h < P.heads; h++) { total += counts[first + h]; }
    take = min(P.n, total / P.heads);
  }
  let b = workgroupUniformLoad(&take);
  for (var j = b + t; j < P.n; j += ${WG}u) { out[r * P.n + j] = ${EMPTY_SLOT}; }
  if (b > 0u) {
${topKeysCode({ key: (j) => `orderKey(bitcast<f32>(scores[base + ${j}]))`, m: 'P.m', n: 'b', t: 't', emit: (slot, j) => `out[r * P.n + ${slot}] = i32(P.start + ${j});` })}
  }
}
`;
}

/**
 * The threshold selection for `rows` query heads (sequences of `heads` rows), bound once to q, keys, a score
 * scratch [rows, stride], the counts [rows] and out [rows, >= n].
 */
export class ThresholdTopKernel {
  private readonly count: BoundDispatch;
  private readonly top: BoundDispatch;
  private readonly countUniform: UniformBlock;
  private readonly topUniform: UniformBlock;

  constructor(
    rows: number,
    private readonly group: number,
    private readonly heads: number,
    private readonly capacity: number,
    private readonly stride: number,
    headDim: number,
    private readonly scale: number,
    private readonly alpha: number,
    buffers: { q: GPUBuffer; keys: GPUBuffer; scores: GPUBuffer; counts: GPUBuffer; out: GPUBuffer },
    label: string,
    keys: StorageDType = 'f32',
  ) {
    this.countUniform = new UniformBlock([group, capacity, 0, 1, { f32: scale }, { f32: alpha }]);
    this.topUniform = new UniformBlock([0, 1, 1, heads]);
    this.count = bindDispatch(thresholdCountShader(headDim, keys, halfRead(), stride), this.countUniform, [buffers.q, buffers.keys, buffers.scores, buffers.counts], [rows], 'selection', `${label} count`);
    this.top = bindDispatch(countedTopShader(stride), this.topUniform, [buffers.scores, buffers.counts, buffers.out], [rows], 'selection', `${label} top`);
  }

  /** The dispatches selecting, per row, the top b of positions start..start+m-1 into n slots (1 <= n <= m <= stride). */
  dispatches(start: number, m: number, n: number): BoundDispatch[] {
    if (m > this.stride) throw new RangeError(`threshold top: ${m} positions exceed the scratch row's ${this.stride}`);
    this.countUniform.write([this.group, this.capacity, start, m, { f32: this.scale }, { f32: this.alpha }]);
    this.topUniform.write([start, m, n, this.heads]);
    return [this.count, this.top];
  }

  destroy(): void {
    this.countUniform.destroy();
    this.topUniform.destroy();
  }
}
