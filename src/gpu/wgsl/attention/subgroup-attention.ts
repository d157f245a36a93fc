/**
 * Decode attention (one query per head, GQA) on subgroups, dense and sparse in one structure, K/V in f32 or
 * packed f16 (half-tensor.ts), every sum, maximum and the softmax in f32. Split-K: the attended rows are cut
 * into chunks; one workgroup of NSG subgroups per (chunk, stream) writes each query head's partial result
 * (the chunk's softmax maximum m, sum l and unnormalised output o), and decode-attention.ts's merge dispatch
 * combines the chunks: o = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
 *
 *   stream  dense: one KV head, rows = positions 0..T-1, read once for all R = H / G query heads of the group
 *           (each lane keeps the R heads' q slices in registers, so every loaded K and V row serves all R);
 *           sparse: one query head, rows = its token list (positions tokens[h, j] read straight from K and V;
 *           a negative position is an empty slot, masked like a row past the chunk);
 *           workgroups run query heads fastest, so the group's heads read shared rows while they are cached
 *   lanes   a row of d elements is read by L lanes, each holding VPL 16-byte vectors (8 f16 or 4 f32 per
 *           vector): a subgroup reads SG / L rows per load instruction, U such loads per tile in flight, K and V
 *           of a tile issued together before any use
 *   sums    each lane's partial dot products meet by an xor butterfly within its L lanes (subgroup shuffles,
 *           no workgroup memory, no barrier); the tile's maximum per head by a butterfly across the lane
 *           groups; then online softmax: m, l and o rescaled by e^(m_old - m_new) per tile. Or (knob
 *           scoreReduction 'transposed') by a reduce-scatter, one exp per score and the probabilities
 *           shuffled back to the row's lanes (transposedSoftmax)
 *   end     the subgroup's lane groups add up (butterfly), the workgroup's subgroups meet once through
 *           workgroup memory (one barrier), and the chunk's partial is written
 *
 * Needs subgroups of a fixed size SG (capabilities.ts subgroupMode) with L | SG; the kernel list's older
 * kernels (decode-attention.ts) and the op chains remain for devices without (subgroupAttentionFits).
 */
import * as tf from '@tensorflow/tfjs-core';
import { isHalf, kvShape, type KvDtype, type KvTensor } from '../../half-tensor.js';
import { queryGroupSize } from '../../heads.js';
import { hasFeature, subgroupMode, type SubgroupMode } from '../runtime/capabilities.js';
import { bufferOf, deviceLimits, outputTensor, record, scratchBuffer, shaderSource, storageReady } from '../runtime/runtime.js';
import { subgroupCode } from '../runtime/subgroups.js';
import { tunable } from '../runtime/tuning.js';
import { mergeShader, type AttentionPlan } from './decode-attention.js';

/**
 * Tuning knobs (bench/run.ts tune --set subgroup; the defaults are untuned first choices, timed in one H200 call,
 * bench/README.md "Issue 19"): rows
 * in flight, tiles in flight, subgroups per workgroup, the workgroups a pass aims for, the vectors a lane holds
 * per row, how f16 is decoded, and how a tile's scores meet. Read-only; withTuning (runtime/tuning.ts) overrides knobs for a run.
 */
export const subgroupAttentionTuning = tunable({
  /** dense: rows per lane group per tile (loads of K and of V in flight per lane) */
  denseRows: 4,
  /** sparse: rows per lane group per tile */
  sparseRows: 4,
  /**
   * tiles whose K and V loads are in flight at once per subgroup: 1 loads a tile, then reduces it; 2 issues
   * the next tile's loads before this tile's butterflies and exps (prefetch, one tile ahead); 3 two tiles
   * ahead. More: more registers per lane (the H200 run of issue 19 saw one tile in flight bound the kernels).
   * 'auto': 2 for dense attention on f32 K/V, 1 otherwise, as timed on the H100 (bench/results/tune-prefetch-webgpu-h100/,
   * 3 fresh processes: f32 dense 0.1426 -> 0.1200 ms with 2; f16 dense 0.0905 -> 0.0923, f16 sparse 0.0239 -> 0.0247)
   */
  tilesInFlight: 'auto' as 'auto' | number,
  /** subgroups per workgroup */
  subgroups: 4,
  /** workgroups a pass aims for (chunks are sized to reach about this many) */
  workgroups: 512,
  /** 16-byte vectors of a row per lane, at least (more: fewer lanes per row, fewer butterfly steps, more registers) */
  vectorsPerLane: 1,
  /**
   * f16 decode: 'unpack' (u32 words through core WGSL unpack2x16float: runs on every adapter) or 'f16'
   * (enable f16: bitcast to vec2<f16>, then to f32; needs 'shader-f16')
   */
  f16Decode: 'unpack' as 'unpack' | 'f16',
  /**
   * how a tile's scores meet across a row's L lanes: 'butterfly' (every lane sums every (row, head) score:
   * log2 L shuffles each, and every lane computes every exp) or 'transposed' (a reduce-scatter: each step
   * halves the scores a lane carries, so the U x R scores of a tile take about U x R shuffles in all and each
   * lane ends with whole scores of one head; one exp per score, then the probabilities go back to every lane
   * of the row, U x R shuffles). 'transposed' needs U a power of two and at most U scores left per lane; other
   * layouts run 'butterfly'
   */
  scoreReduction: 'butterfly' as 'butterfly' | 'transposed',
});
export type SubgroupAttentionTuning = typeof subgroupAttentionTuning;

/** One generated variant of the partial pass. */
export interface SubgroupLayout {
  sparse: boolean;
  kv: KvDtype;
  d: number;
  /** query heads per KV head */
  R: number;
  mode: SubgroupMode;
  /** subgroups per workgroup */
  NSG: number;
  /** lanes per row */
  L: number;
  /** 16-byte vectors per lane per row */
  VPL: number;
  /** rows per lane group per tile */
  U: number;
  /** tiles in flight (1: no prefetch) */
  F: number;
  decode: 'unpack' | 'f16';
  /** how a tile's scores meet (subgroupAttentionTuning.scoreReduction, where the layout allows it) */
  reduce: 'butterfly' | 'transposed';
}

/** 0 .. n - 1 (the generators' unrolled loops). */
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Elements per 16-byte vector. */
function perVector(kv: KvDtype): number {
  return kv === 'f16' ? 8 : 4;
}

/**
 * Lanes per row for a row of `d` elements: the largest power of two dividing its vectors, within the
 * subgroup and leaving each lane at least `minVectors` vectors; undefined when the row has no whole vectors.
 */
export function lanesPerRow(d: number, kv: KvDtype, SG: number, minVectors: number): number | undefined {
  const E = perVector(kv);
  if (d % E !== 0) return undefined;
  const DVR = d / E;
  let L = 1;
  while (L * 2 <= SG && DVR % (L * 2) === 0 && DVR / (L * 2) >= minVectors) L *= 2;
  return L;
}

/** The layout the knobs give for a shape on the active device, or undefined when the kernel does not apply. */
export function subgroupLayout(sparse: boolean, kv: KvDtype, d: number, R: number): SubgroupLayout | undefined {
  const mode = subgroupMode();
  if (!mode) return undefined;
  const t = subgroupAttentionTuning;
  const L = lanesPerRow(d, kv, mode.size, t.vectorsPerLane);
  if (L === undefined) return undefined;
  const VPL = d / perVector(kv) / L;
  const decode = kv === 'f16' && t.f16Decode === 'f16' && mode.kind === 'native' && hasFeature('shader-f16') ? 'f16' : 'unpack';
  const F = t.tilesInFlight === 'auto' ? (!sparse && kv === 'f32' ? 2 : 1) : t.tilesInFlight;
  if (!Number.isInteger(F) || F < 1 || F > 4) throw new RangeError(`subgroupAttentionTuning.tilesInFlight must be 'auto' or 1..4, got ${t.tilesInFlight}`);
  const U = sparse ? t.sparseRows : t.denseRows;
  const reduce = t.scoreReduction === 'transposed' && transposable(U, sparse ? 1 : R, L) ? 'transposed' : 'butterfly';
  return { sparse, kv, d, R, mode, NSG: t.subgroups, L, VPL, U, F, decode, reduce };
}

const isPowerOfTwo = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** The scores a lane carries into the reduce-scatter: U rows x RS heads, padded to a power of two. */
function paddedScores(U: number, RS: number): number {
  return 2 ** Math.ceil(Math.log2(U * RS));
}

/** Whether the transposed reduction takes U rows x RS heads over L lanes: each lane's scores end in one head. */
function transposable(U: number, RS: number, L: number): boolean {
  return isPowerOfTwo(U) && paddedScores(U, RS) / L <= U;
}


/** Workgroup memory of the partial pass in bytes. */
function workgroupBytes(l: SubgroupLayout): number {
  const RS = l.sparse ? 1 : l.R;
  const emulation = l.mode.kind === 'emulated' ? 4 * l.NSG * l.mode.size : 4;
  return l.NSG > 1 ? l.NSG * RS * (l.d / 4) * 16 + l.NSG * RS * 8 + emulation : emulation;
}

/**
 * Whether the subgroup kernels take this shape on the active device: subgroups (or their emulation), rows of
 * whole 16-byte vectors (d a multiple of 4, of 8 for f16), at most 4 vectors per lane, a GQA group of at
 * most 8 heads (their q slices and outputs live in registers), workgroup memory and size within the limits.
 */
export function subgroupAttentionFits(H: number, G: number, d: number, kv: KvDtype): boolean {
  if (H % G !== 0 || H / G > 8) return false;
  const R = H / G;
  const limits = deviceLimits();
  return [false, true].every((sparse) => {
    const l = subgroupLayout(sparse, kv, d, R);
    return !!l && l.VPL <= 4 && l.NSG * l.mode.size <= limits.invocations && workgroupBytes(l) <= limits.workgroupStorage;
  });
}

/** The partial pass's WGSL for a layout (memoised). */
export function subgroupPartialShader(l: SubgroupLayout): string {
  return shaderSource(`sg-partial:${JSON.stringify(l)}`, () => partialSource(l));
}

/** Generates the partial pass. Bindings: 0 params, 1 q [H, d], 2 keys, 3 values [G, T, d], (sparse: 4 tokens [H, n]), then partO [H, S, d], partML [H, S]. */
function partialSource(l: SubgroupLayout): string {
  const { sparse, kv, d, R, NSG, L, VPL, U, F, mode, decode } = l;
  const SG = mode.size;
  const RS = sparse ? 1 : R;
  const NG = SG / L; // lane groups per subgroup
  const TR = NG * U; // rows per subgroup and tile
  const QV = perVector(kv) / 4; // vec4<f32> per 16-byte vector
  const DV4 = d / 4;
  const DVR = d / perVector(kv);
  const WG = NSG * SG;
  const sg = subgroupCode(mode, WG);
  const KV = kv === 'f16' ? 'vec4<u32>' : 'vec4<f32>';
  const dec = (x: string, a: number) => {
    if (kv === 'f32') return x;
    const [c0, c1] = a === 0 ? ['x', 'y'] : ['z', 'w'];
    return decode === 'f16'
      ? `vec4<f32>(vec2<f32>(bitcast<vec2<f16>>(${x}.${c0})), vec2<f32>(bitcast<vec2<f16>>(${x}.${c1})))`
      : `vec4<f32>(unpack2x16float(${x}.${c0}), unpack2x16float(${x}.${c1}))`;
  };
  // lane's element vectors: vector v of the row is number v * L + lane; its vec4 a is (v * L + lane) * QV + a
  const lines: string[] = [];
  const emit = (s: string) => lines.push(s);
  for (const r of range(RS)) for (const v of range(VPL)) for (const a of range(QV)) emit(`  let q_${r}_${v}_${a} = q[(h0 + ${r}u) * DV4 + (${v}u * L + lane) * QV + ${a}u];`);
  // transposed: the running maximum of the one head whose scores this lane ends with
  if (l.reduce === 'transposed') emit('  var mLane = LOWEST;');
  for (const r of range(RS)) {
    emit(`  var m_${r} = LOWEST;`);
    emit(`  var l_${r} = 0.0;`);
    for (const v of range(VPL)) for (const a of range(QV)) emit(`  var o_${r}_${v}_${a} = vec4<f32>(0.0);`);
  }
  // row u of a tile starting at `base`: its index j, whether it is attended (sparse: inside the chunk and not
  // an empty slot), and its first vector's index
  const rows = (indent: string, prefix: string, base: string, inRange: string) => {
    for (const u of range(U)) {
      emit(`${indent}let ${prefix}j_${u} = ${base} + ${u}u * NG;`);
      if (sparse) {
        emit(`${indent}let ${prefix}in_${u} = ${prefix}j_${u} < chunkEnd${inRange};`);
        emit(`${indent}let ${prefix}tk_${u} = tokens[h0 * P.count + select(0u, ${prefix}j_${u}, ${prefix}in_${u})];`);
        emit(`${indent}let ${prefix}ok_${u} = ${prefix}in_${u} && ${prefix}tk_${u} >= 0;`);
        emit(`${indent}let ${prefix}rb_${u} = (g * P.rows + u32(max(${prefix}tk_${u}, 0))) * DVR + lane;`);
      } else {
        emit(`${indent}let ${prefix}ok_${u} = ${prefix}j_${u} < chunkEnd${inRange};`);
        emit(`${indent}let ${prefix}rb_${u} = (g * P.rows + select(0u, ${prefix}j_${u}, ${prefix}ok_${u})) * DVR + lane;`);
      }
    }
  };
  if (F > 1) {
    // prefetch: tiles 0..F-2 loaded before the loop; each iteration takes the oldest and issues the loads of
    // the tile F-1 ahead (rows past the subgroup's tiles read row 0, cached, and are never used)
    for (const f of range(F - 1)) {
      rows('  ', `p${f}`, `sgStart + ${f}u * TR + grp`, ` && ${f}u < P.tiles`);
      for (const u of range(U)) for (const v of range(VPL)) emit(`  var kp_${f}_${u}_${v} = keys[p${f}rb_${u} + ${v}u * L];`);
      for (const u of range(U)) for (const v of range(VPL)) emit(`  var wp_${f}_${u}_${v} = values[p${f}rb_${u} + ${v}u * L];`);
    }
  }
  emit('  for (var it = 0u; it < P.tiles; it++) {');
  emit('    let base = sgStart + it * TR + grp;');
  if (F === 1) {
    rows('    ', '', 'base', '');
    // every load of the tile first: K and V, U rows x VPL vectors
    for (const u of range(U)) for (const v of range(VPL)) emit(`    let k_${u}_${v} = keys[rb_${u} + ${v}u * L];`);
    for (const u of range(U)) for (const v of range(VPL)) emit(`    let w_${u}_${v} = values[rb_${u} + ${v}u * L];`);
  } else {
    for (const u of range(U)) {
      emit(`    let j_${u} = base + ${u}u * NG;`);
      // (sparse: the slot's position read again, from cache, rather than carried with the prefetched rows)
      emit(`    let ok_${u} = j_${u} < chunkEnd${sparse ? ` && tokens[h0 * P.count + select(0u, j_${u}, j_${u} < chunkEnd)] >= 0` : ''};`);
    }
    for (const u of range(U)) for (const v of range(VPL)) emit(`    let k_${u}_${v} = kp_0_${u}_${v};`);
    for (const u of range(U)) for (const v of range(VPL)) emit(`    let w_${u}_${v} = wp_0_${u}_${v};`);
    for (const f of range(F - 2)) {
      for (const u of range(U)) for (const v of range(VPL)) emit(`    kp_${f}_${u}_${v} = kp_${f + 1}_${u}_${v};`);
      for (const u of range(U)) for (const v of range(VPL)) emit(`    wp_${f}_${u}_${v} = wp_${f + 1}_${u}_${v};`);
    }
    rows('    ', 'n', `base + ${F - 1}u * TR`, ` && it + ${F - 1}u < P.tiles`);
    for (const u of range(U)) for (const v of range(VPL)) emit(`    kp_${F - 2}_${u}_${v} = keys[nrb_${u} + ${v}u * L];`);
    for (const u of range(U)) for (const v of range(VPL)) emit(`    wp_${F - 2}_${u}_${v} = values[nrb_${u} + ${v}u * L];`);
  }
  for (const u of range(U)) {
    for (const v of range(VPL)) for (const a of range(QV)) emit(`    let kf_${u}_${v}_${a} = ${dec(`k_${u}_${v}`, a)};`);
    for (const r of range(RS)) {
      const terms = range(VPL).flatMap((v) => range(QV).map((a) => `dot(kf_${u}_${v}_${a}, q_${r}_${v}_${a})`));
      emit(`    ${l.reduce === 'transposed' ? 'let' : 'var'} s_${u}_${r} = ${terms.join(' + ')};`);
    }
  }
  if (l.reduce === 'transposed') transposedSoftmax(l, emit);
  else {
    // butterfly within the row's lanes (xor 1 .. L/2 stays inside an aligned group of L lanes)
    for (let m = 1; m < L; m *= 2) for (const u of range(U)) for (const r of range(RS)) emit(`    s_${u}_${r} += sgXorF(s_${u}_${r}, ${m}u);`);
    for (const u of range(U)) for (const r of range(RS)) emit(`    s_${u}_${r} = select(LOWEST, s_${u}_${r} * P.scale, ok_${u});`);
    for (const r of range(RS)) {
      emit(`    var tm_${r} = ${range(U).reduce((acc, u) => (acc ? `max(${acc}, s_${u}_${r})` : `s_${u}_${r}`), '')};`);
      for (let m = L; m < SG; m *= 2) emit(`    tm_${r} = max(tm_${r}, sgXorF(tm_${r}, ${m}u));`);
      emit(`    let mn_${r} = max(m_${r}, tm_${r});`);
      emit(`    let al_${r} = exp(m_${r} - mn_${r});`);
      emit(`    m_${r} = mn_${r};`);
      for (const u of range(U)) emit(`    let p_${u}_${r} = select(0.0, exp(s_${u}_${r} - mn_${r}), ok_${u});`);
      emit(`    l_${r} = l_${r} * al_${r} + ${range(U).map((u) => `p_${u}_${r}`).join(' + ')};`);
    }
  }
  for (const u of range(U)) for (const v of range(VPL)) for (const a of range(QV)) emit(`    let vf_${u}_${v}_${a} = ${dec(`w_${u}_${v}`, a)};`);
  for (const r of range(RS)) {
    for (const v of range(VPL)) {
      for (const a of range(QV)) emit(`    o_${r}_${v}_${a} = o_${r}_${v}_${a} * al_${r} + ${range(U).map((u) => `p_${u}_${r} * vf_${u}_${v}_${a}`).join(' + ')};`);
    }
  }
  emit('  }');
  // the lane groups' sums meet (same maximum everywhere: the tile maxima were taken across groups)
  for (let m = L; m < SG; m *= 2) {
    for (const r of range(RS)) {
      emit(`  l_${r} += sgXorF(l_${r}, ${m}u);`);
      for (const v of range(VPL)) for (const a of range(QV)) emit(`  o_${r}_${v}_${a} += sgXorV4(o_${r}_${v}_${a}, ${m}u);`);
    }
  }
  const outIndex = (r: number, v: number, a: number) => `(${v}u * L + lane) * QV + ${a}u`;
  if (NSG === 1) {
    emit('  if (grp == 0u) {');
    for (const r of range(RS)) {
      for (const v of range(VPL)) for (const a of range(QV)) emit(`    partO[((h0 + ${r}u) * P.splits + s) * DV4 + ${outIndex(r, v, a)}] = o_${r}_${v}_${a};`);
      emit(`    if (lane == 0u) { partML[(h0 + ${r}u) * P.splits + s] = vec2<f32>(m_${r}, l_${r}); }`);
    }
    emit('  }');
  } else {
    emit('  if (grp == 0u) {');
    for (const r of range(RS)) {
      for (const v of range(VPL)) for (const a of range(QV)) emit(`    smO[(sgIdx * RS + ${r}u) * DV4 + ${outIndex(r, v, a)}] = o_${r}_${v}_${a};`);
      emit(`    if (lane == 0u) { smML[sgIdx * RS + ${r}u] = vec2<f32>(m_${r}, l_${r}); }`);
    }
    emit('  }');
    emit('  workgroupBarrier();');
    emit(`  for (var e = t; e < RS * DV4; e += WG) {
    let r = e / DV4;
    let i = e % DV4;
    var M = LOWEST;
    for (var k = 0u; k < NSG; k++) { M = max(M, smML[k * RS + r].x); }
    var o = vec4<f32>(0.0);
    var lsum = 0.0;
    for (var k = 0u; k < NSG; k++) {
      let ml = smML[k * RS + r];
      let f = exp(ml.x - M);
      o += f * smO[(k * RS + r) * DV4 + i];
      lsum += f * ml.y;
    }
    partO[((h0 + r) * P.splits + s) * DV4 + i] = o;
    if (i == 0u) { partML[(h0 + r) * P.splits + s] = vec2<f32>(M, lsum); }
  }`);
  }
  const b = sparse ? 5 : 4;
  const enables = [decode === 'f16' ? 'enable f16;' : '', sg.enables].filter(Boolean).join('\n');
  return /* wgsl */ `${enables}
struct Params { rows: u32, count: u32, splits: u32, scale: f32, tiles: u32, chunk: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keys: array<${KV}>;
@group(0) @binding(3) var<storage, read> values: array<${KV}>;
${sparse ? '@group(0) @binding(4) var<storage, read> tokens: array<i32>;' : ''}
@group(0) @binding(${b}) var<storage, read_write> partO: array<vec4<f32>>;
@group(0) @binding(${b + 1}) var<storage, read_write> partML: array<vec2<f32>>;
const WG: u32 = ${WG}u;
const NSG: u32 = ${NSG}u;
const L: u32 = ${L}u;
const NG: u32 = ${NG}u;
const TR: u32 = ${TR}u;
const RS: u32 = ${RS}u;
const QV: u32 = ${QV}u;
const DV4: u32 = ${DV4}u;
const DVR: u32 = ${DVR}u;
const LOWEST: f32 = -3.402823e38;
${NSG > 1 ? `var<workgroup> smO: array<vec4<f32>, ${NSG * RS * DV4}>;
var<workgroup> smML: array<vec2<f32>, ${NSG * RS}>;` : ''}
${sg.decls}
@compute @workgroup_size(WG)${sg.attribute}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32${sg.params}) {
${sg.init}
  let lane = sgLane % L;
  let grp = sgLane / L;
  ${sparse ? `let h0 = wid.x;\n  let g = h0 / ${R}u;` : `let g = wid.x;\n  let h0 = g * ${R}u;`}
  let s = wid.y;
  let chunkStart = s * P.chunk;
  let chunkEnd = min(chunkStart + P.chunk, P.count);
  let sgStart = chunkStart + sgIdx * P.tiles * TR;
${lines.join('\n')}
}
`;
}

/**
 * The transposed reduction of a tile's scores, then its softmax step (emits into the tile loop; in scope:
 * the lane partials s_u_r, ok_u, m_r, l_r; defines al_r and p_u_r for the value pass as the butterfly does).
 *
 *   reduce-scatter  the lane's NP = U x RS scores (index r U + u, zeros past U x RS) meet across its L lanes
 *                   in log2 min(NP, L) steps: at the step of mask m a lane keeps the half its bit m names
 *                   and adds the partner's copy of it (one shuffle per kept score); then, where NP < L, plain
 *                   butterflies over the remaining masks. A lane ends with C = max(1, NP / L) whole scores,
 *                   indices gl C .. gl C + C - 1 with gl = lane / P (P = max(1, L / NP) lanes share them),
 *                   all of head gl C / U
 *   softmax         the head's tile maximum by butterflies over the lanes of its rows and across the lane
 *                   groups; one exp per score; each head's new maximum and each probability go to every lane
 *                   of the row by a shuffle from the lane that holds it
 */
function transposedSoftmax(l: SubgroupLayout, emit: (line: string) => void): void {
  const { sparse, R, U, L, mode } = l;
  const RS = sparse ? 1 : R;
  const SG = mode.size;
  const NP = paddedScores(U, RS);
  const steps = Math.min(Math.log2(NP), Math.log2(L));
  const C = Math.max(1, NP / L);
  const P = Math.max(1, L / NP);
  let cur = range(NP).map((i) => (i < U * RS ? `s_${i % U}_${Math.floor(i / U)}` : '0.0'));
  for (let k = 0; k < steps; k++) {
    const m = L >> (k + 1);
    const h = cur.length / 2;
    emit(`    let hi${k} = (lane & ${m}u) != 0u;`);
    for (const i of range(h)) emit(`    let x${k}_${i} = select(${cur[i]}, ${cur[h + i]}, hi${k}) + sgXorF(select(${cur[h + i]}, ${cur[i]}, hi${k}), ${m}u);`);
    cur = range(h).map((i) => `x${k}_${i}`);
  }
  for (const i of range(C)) emit(`    var z_${i} = ${cur[i]};`);
  for (let m = (L >> steps) / 2; m >= 1; m /= 2) emit(`    z_0 += sgXorF(z_0, ${m}u);`);
  emit(`    let gl = lane / ${P}u;`);
  emit(`    let okBits = ${range(U).map((u) => `select(0u, ${1 << u}u, ok_${u})`).join(' | ')};`);
  for (const i of range(C)) {
    emit(`    let okz_${i} = ((okBits >> ((gl * ${C}u + ${i}u) % ${U}u)) & 1u) != 0u;`);
    emit(`    let zs_${i} = select(LOWEST, z_${i} * P.scale, okz_${i});`);
  }
  emit(`    var tmx = ${range(C).reduce((acc, i) => (acc ? `max(${acc}, zs_${i})` : `zs_${i}`), '')};`);
  // the head's other rows: lane bits log2 P .. log2 (P U / C) - 1; then the other lane groups
  for (let m = P; m < (P * U) / C; m *= 2) emit(`    tmx = max(tmx, sgXorF(tmx, ${m}u));`);
  for (let m = L; m < SG; m *= 2) emit(`    tmx = max(tmx, sgXorF(tmx, ${m}u));`);
  emit('    mLane = max(mLane, tmx);');
  for (const i of range(C)) emit(`    let pz_${i} = select(0.0, exp(zs_${i} - mLane), okz_${i});`);
  // the lane (in this lane group) holding score index i: lanes gl P, gl = i / C, value i % C
  const holder = (i: number) => `grp * L + ${Math.floor(i / C) * P}u`;
  for (const r of range(RS)) {
    emit(`    let mn_${r} = sgShuffleF(mLane, ${holder(r * U)});`);
    emit(`    let al_${r} = exp(m_${r} - mn_${r});`);
    emit(`    m_${r} = mn_${r};`);
    for (const u of range(U)) emit(`    let p_${u}_${r} = sgShuffleF(pz_${(r * U + u) % C}, ${holder(r * U + u)});`);
    emit(`    l_${r} = l_${r} * al_${r} + ${range(U).map((u) => `p_${u}_${r}`).join(' + ')};`);
  }
}

/** Chunking of a pass: tiles per subgroup, rows per workgroup, chunks. */
export function subgroupChunks(l: SubgroupLayout, n: number, streams: number): { tiles: number; chunk: number; splits: number } {
  const TR = (l.mode.size / l.L) * l.U;
  const perWorkgroup = Math.max(1, Math.ceil((n * streams) / subgroupAttentionTuning.workgroups));
  const tiles = Math.max(1, Math.ceil(perWorkgroup / (l.NSG * TR)));
  const chunk = tiles * l.NSG * TR;
  return { tiles, chunk, splits: Math.ceil(n / chunk) };
}

/**
 * The two dispatches of one decode attention on subgroups. q [H, d] f32, keys/values [G, T, d] (f32 or packed
 * f16 buffers, as `kv` says); tokens: [H, n] int32 positions (sparse) or undefined (dense, n = T); out [H, d].
 */
export function subgroupAttentionDispatches(qb: GPUBuffer, kb: GPUBuffer, vb: GPUBuffer, kv: KvDtype, tokens: GPUBuffer | undefined, out: GPUBuffer, H: number, G: number, T: number, d: number, n: number): AttentionPlan {
  const R = queryGroupSize(H, G);
  const sparse = tokens !== undefined;
  const l = subgroupLayout(sparse, kv, d, R);
  if (!l) throw new Error('subgroup attention: no subgroup layout on this device (check subgroupAttentionFits first)');
  const streams = sparse ? H : G;
  const { tiles, chunk, splits } = subgroupChunks(l, n, streams);
  const partO = scratchBuffer(H * splits * d * 4);
  const partML = scratchBuffer(H * splits * 8);
  const uniforms = [T, n, splits, { f32: 1 / Math.sqrt(d) }, tiles, chunk];
  return {
    dispatches: [
      { code: subgroupPartialShader(l), uniforms, buffers: sparse ? [qb, kb, vb, tokens, partO, partML] : [qb, kb, vb, partO, partML], workgroups: [streams, splits] },
      { code: mergeShader(d), uniforms: [splits], buffers: [partO, partML, out], workgroups: [H] },
    ],
    scratch: [partO, partML],
  };
}

/** A K/V operand's buffer and dtype (f16: the packed int32 words). */
export function kvBuffer(x: KvTensor): { buffer: GPUBuffer; dtype: KvDtype; owned?: tf.Tensor } {
  if (isHalf(x)) {
    const r = storageReady(x.packed, 'i32');
    return { buffer: bufferOf(r.tensor, 'i32'), dtype: 'f16', owned: r.owned };
  }
  const r = storageReady(x, 'f32');
  return { buffer: bufferOf(r.tensor, 'f32'), dtype: 'f32', owned: r.owned };
}

function attend(q: tf.Tensor2D, keys: KvTensor, values: KvTensor, tokens: tf.Tensor2D | undefined): tf.Tensor2D {
  const [H, d] = q.shape;
  const [G, T] = kvShape(keys);
  const n = tokens ? tokens.shape[1] : T;
  if (n === 0) return tf.zeros([H, d]) as tf.Tensor2D;
  const qr = storageReady(q, 'f32');
  const tr = tokens ? storageReady(tokens, 'i32') : undefined;
  const [kb, vb] = [kvBuffer(keys), kvBuffer(values)];
  if (kb.dtype !== vb.dtype) throw new TypeError('keys and values must have the same storage dtype');
  const out = outputTensor<tf.Rank.R2>([H, d], 'float32');
  const plan = subgroupAttentionDispatches(bufferOf(qr.tensor, 'f32'), kb.buffer, vb.buffer, kb.dtype, tr ? bufferOf(tr.tensor, 'i32') : undefined, out.buffer, H, G, T, d, n);
  record(plan.dispatches, plan.scratch);
  tf.dispose([qr.owned, tr?.owned, kb.owned, vb.owned].filter((t): t is tf.Tensor => !!t));
  return out.tensor;
}

/** Dense decode attention [H, d] on subgroups. q [H, d]; keys, values [G, T, d] f32 or f16. */
export function denseAttentionSubgroup(q: tf.Tensor2D, keys: KvTensor, values: KvTensor): tf.Tensor2D {
  return attend(q, keys, values, undefined);
}

/** Sparse decode attention [H, d] on subgroups over tokens [H, n] (int32 positions). */
export function sparseAttentionSubgroup(q: tf.Tensor2D, keys: KvTensor, values: KvTensor, tokens: tf.Tensor2D): tf.Tensor2D {
  return attend(q, keys, values, tokens);
}
