/**
 * H2O's step on the GPU (src/sim/methods/h2o.ts is the tfjs form): one workgroup per KV head of the batch,
 * every query head of its group attending the same kept set. Per step, in order:
 *   first step only   the accumulated attention gains the full softmax weights of this step's queries
 *                     over positions 0..pos, summed over the group (H2O's first cache: a trace has no
 *                     prompt queries)
 *   keep              the `recent` most recent selectable positions, and the `heavy` positions of
 *                     [sinkEnd, openStart - recent) with the largest accumulated attention among those never
 *                     evicted (evicted ones rank below all, ties to the lower position: tf.topk's order of
 *                     the tfjs form's -Infinity), by top-keys.ts's radix select; every other selectable
 *                     position is evicted (alive 0). The kept positions go to every query head's row.
 *   accumulate        each alive position gains the softmax weights over the alive positions 0..pos (the
 *                     attended set), summed over the group's query heads
 * Logits are q.k / sqrt(d). Masked positions are skipped rather than given -Infinity (WGSL may assume
 * finite floats); their weight is 0, as exp(-Infinity) is in the tfjs form.
 */
import { halfRead, keyStorage, type HalfRead, type StorageDType } from '../engine/storage-dtype.js';
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';
import { TOP_KEYS_WORKGROUP, topKeysCode, topKeysDecls } from './top-keys.js';

const WG = TOP_KEYS_WORKGROUP;

/** WGSL of a workgroup reduction of `v` (f32) by `op` ('max' | '+') into a uniform value named `out`. */
function reduce(v: string, op: 'max' | '+', out: string): string {
  const combine = op === 'max' ? 'max(red[t], red[t + s])' : 'red[t] + red[t + s]';
  return `
    red[t] = ${v};
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
      if (t < s) { red[t] = ${combine}; }
      workgroupBarrier();
    }
    let ${out} = red[0];
    workgroupBarrier();`;
}

/**
 * WGSL of the softmax weights of each query head of the group over positions 0..pos (only alive ones when
 * `masked`), summed over the group into row A of tmp (f32 bits); row B holds a head's logits meanwhile.
 */
function groupSoftmax(masked: boolean): string {
  const live = (j: string) => (masked ? `alive[row + ${j}] == 1u` : 'true');
  return `
  for (var r = 0u; r < P.group; r++) {
    let qr = (g * P.group + r) * DV;
    var mx = -3.4e38;
    for (var j = t; j <= P.pos; j += WG) {
      if (${live('j')}) {
        var acc = V(0.0);
        let kb = (row + j) * DV;
        for (var i = 0u; i < DV; i++) { acc += q[qr + i] * KEY(kb + i); }
        let l = ${'SUM(acc)'} * P.scale;
        tmp[rowB + j] = bitcast<u32>(l);
        mx = max(mx, l);
      }
    }
    ${reduce('mx', 'max', 'M')}
    var sm = 0.0;
    for (var j = t; j <= P.pos; j += WG) {
      if (${live('j')}) { sm += exp(bitcast<f32>(tmp[rowB + j]) - M); }
    }
    ${reduce('sm', '+', 'S')}
    for (var j = t; j <= P.pos; j += WG) {
      var p = 0.0;
      if (${live('j')}) { p = exp(bitcast<f32>(tmp[rowB + j]) - M) / S; }
      let before = select(bitcast<f32>(tmp[rowA + j]), 0.0, r == 0u);
      tmp[rowA + j] = bitcast<u32>(before + p);
    }
    storageBarrier();
  }`;
}

/**
 * WGSL. Bindings: 0 params {group, capacity T, pos, sinkEnd, openStart, recent, heavy, first, scale}, 1 q
 * [R group, d] f32, 2 keys [R, T, d] stored as `keys` says (f16: the engine's f16 KV cache, d a multiple
 * of 4), 3 acc [R, T] f32, 4 alive [R, T] u32, 5 tmp [R, 2, T] u32 (scratch), 6 selected
 * [R group, recent + heavy] i32. Workgroups: R (KV heads of the batch).
 */
export function h2oStepShader(headDim: number, keys: StorageDType = 'f32', read: HalfRead = 'unpacked'): string {
  const K = keyStorage('keys', 2, headDim, keys, read, 'h2o');
  const vec = headDim % 4 === 0;
  const DV = vec ? headDim / 4 : headDim;
  const V = vec ? 'vec4<f32>' : 'f32';
  const sum = vec ? '(acc.x + acc.y + acc.z + acc.w)' : 'acc';
  const body = /* wgsl */ `${K.enable}
struct Params { group: u32, capacity: u32, pos: u32, sinkEnd: u32, openStart: u32, recent: u32, heavy: u32, first: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<V>;
${K.decl}
@group(0) @binding(3) var<storage, read_write> accum: array<f32>;
@group(0) @binding(4) var<storage, read_write> alive: array<u32>;
@group(0) @binding(5) var<storage, read_write> tmp: array<u32>;
@group(0) @binding(6) var<storage, read_write> selected: array<i32>;
alias V = ${V};
const DV: u32 = ${DV}u;
const WG: u32 = ${WG}u;
${K.helpers}
// the key of an evicted position: below every finite score's (orderKey of -Infinity)
const DEAD: u32 = 0x007fffffu;
var<workgroup> red: array<f32, ${WG}>;
${topKeysDecls()}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let g = wid.x;
  let row = g * P.capacity;
  let rowA = g * 2u * P.capacity;
  let rowB = rowA + P.capacity;
  let chosen = P.recent + P.heavy;
  if (P.first == 1u) {
${groupSoftmax(false)}
    for (var j = t; j <= P.pos; j += WG) { accum[row + j] = accum[row + j] + bitcast<f32>(tmp[rowA + j]); }
    storageBarrier();
  }
  if (chosen > 0u) {
    let recentStart = P.openStart - P.recent;
    // the candidates' keys, then the selectable range's eviction (the kept ones come back alive below)
    for (var j = t; j < recentStart - P.sinkEnd; j += WG) {
      let p = P.sinkEnd + j;
      tmp[rowB + j] = select(DEAD, orderKey(accum[row + p]), alive[row + p] == 1u);
    }
    storageBarrier();
    for (var p = P.sinkEnd + t; p < P.openStart; p += WG) { alive[row + p] = select(0u, 1u, p >= recentStart); }
    for (var i = t; i < P.recent; i += WG) {
      for (var r = 0u; r < P.group; r++) { selected[(g * P.group + r) * chosen + i] = i32(recentStart + i); }
    }
    storageBarrier();
    if (P.heavy > 0u) {
${topKeysCode({
  key: (j) => `tmp[rowB + ${j}]`,
  m: '(recentStart - P.sinkEnd)',
  n: 'P.heavy',
  t: 't',
  emit: (slot, j) => `alive[row + P.sinkEnd + ${j}] = 1u;
      for (var r = 0u; r < P.group; r++) { selected[(g * P.group + r) * chosen + P.recent + ${slot}] = i32(P.sinkEnd + ${j}); }`,
})}
    }
    storageBarrier();
  }
${groupSoftmax(true)}
  for (var j = t; j <= P.pos; j += WG) {
    if (alive[row + j] == 1u) { accum[row + j] = accum[row + j] + bitcast<f32>(tmp[rowA + j]); }
  }
}
`;
  return body.replace(/SUM\(acc\)/g, sum).replace(/KEY\(kb \+ i\)/g, K.load('kb + i'));
}

/** H2O's step for `rows` KV heads (groups of `group` query heads), bound once to its buffers. */
export class H2OStepKernel {
  private readonly bound: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(
    rows: number,
    private readonly group: number,
    private readonly capacity: number,
    private readonly headDim: number,
    buffers: { q: GPUBuffer; keys: GPUBuffer; acc: GPUBuffer; alive: GPUBuffer; tmp: GPUBuffer; selected: GPUBuffer },
    label: string,
    keys: StorageDType = 'f32',
  ) {
    this.uniform = new UniformBlock(new Array<number>(12).fill(0));
    const b = buffers;
    this.bound = bindDispatch(h2oStepShader(headDim, keys, halfRead()), this.uniform, [b.q, b.keys, b.acc, b.alive, b.tmp, b.selected], [rows], 'selection', label);
  }

  /** The step at `pos` (the layout's sinkEnd, openStart), keeping `recent` + `heavy` positions; `first` adds the full softmax first. */
  dispatch(step: { pos: number; sinkEnd: number; openStart: number; recent: number; heavy: number; first: boolean }): BoundDispatch {
    const { pos, sinkEnd, openStart, recent, heavy, first } = step;
    this.uniform.write([this.group, this.capacity, pos, sinkEnd, openStart, recent, heavy, first ? 1 : 0, { f32: 1 / Math.sqrt(this.headDim) }]);
    return this.bound;
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
