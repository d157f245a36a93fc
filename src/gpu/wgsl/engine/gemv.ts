/**
 * Matrix-vector products for decode at batch 1..8: y[b, r] = sum_i W[r, i] x[b, i], streaming the
 * weights (f32, or f16 read as storage-dtype.ts says, accumulated in f32) once for the whole batch. At batch 1 a decode step is this kernel: every weight of the model is
 * read once per token, so its speed is the fraction of the read ceiling (ceilings/copy-read.ts) it reaches.
 *
 * Layout: W [rows, cols] row-major (each output's weights contiguous), x [B, cols], y [B, rows].
 * Work split: a workgroup of 256 threads is GROUPS = 256 / TPR row groups; each group of TPR threads owns R
 * consecutive rows and strides over the columns in vec4s (lane l reads columns 4l.., 4(l + TPR).., so
 * every load instruction of a group reads TPR * 16 contiguous bytes of each of its rows). Each thread keeps
 * R x B scalar accumulators (dot() of vec4s), loads its R weight vectors and B input vectors U column steps
 * ahead (independent loads in flight), then the group sums its lanes by a tree in workgroup memory (layout
 * [accumulator][thread]: consecutive threads hit consecutive banks).
 * The code is generated with every index and loop over R, B and U written out, so accumulators stay in
 * registers whatever the WGSL compiler unrolls.
 *
 * RMSNorm prologue (`norm`): y = W (x / rms(x) * gain) computed as (W (x * gain)) / rms(x), the rms from the
 * same loads (each row group's lanes see every column of x), so the norm costs no dispatch of its own: a
 * decode step's norms were one-workgroup dispatches, 15% of a 1B model's dense step (bench/README.md).
 *
 * Epilogues (fusing the next elementwise op saves a dispatch and a round trip of the activations):
 *   plain     y[b, r] = s
 *   bias      y[b, r] = s + bias[r]                  (Qwen2's q/k/v projections)
 *   residual  y[b, r] = res[b, r] + s                (attention output and FFN down projections)
 *   swiglu    rows interleaved gate_j = row 2j, up_j = row 2j + 1; y[b, j] = silu(gate_j) up_j, y [B, rows / 2]
 */
import { tunable } from '../runtime/tuning.js';

import { HALF_WGSL, vec4Storage, type HalfRead, type StorageDType, type Vec4Storage } from './storage-dtype.js';

const WG = 256;

export type GemvEpilogue = 'plain' | 'bias' | 'residual' | 'swiglu';

export interface GemvShape {
  /** output rows (for swiglu: 2 x the output width) */
  rows: number;
  /** input columns (a multiple of 4) */
  cols: number;
  /** sequences B (1..8) */
  batch: number;
  epilogue: GemvEpilogue;
  /** how W is stored (default f32) */
  weights?: StorageDType;
  /** how an f16 W is read (default 'unpacked'; storage-dtype.ts's halfRead() for the device) */
  halfRead?: HalfRead;
  /** RMS-normalise x first (the model's rmsNorm: x * rsqrt(mean(x^2) + eps) * gain): gain [cols] at binding 3, eps the params' second field */
  norm?: boolean;
}

export interface GemvTuning {
  /** threads per row group (a power of two dividing 256) */
  threadsPerRow: number;
  /** rows per group (even for swiglu) */
  rowsPerThread: number;
  /** column steps loaded ahead per loop iteration */
  unroll: number;
}

/**
 * The family's tuning knobs: the default work split per batch, from the H200 sweep (bench/run.ts tune --set gemv,
 * bench/results/e2e-gemv-tuning-h200.json; time per token over the shapes of a Llama-3-8B layer x 32 + output
 * head): batch 1: 256,2,2 7.54 ms (64,4,2 7.85; 32,4,2 9.88); batch 8: 32,4,2 10.94 ms (64,2,2 12.18;
 * 64,4,2 12.85; 256,2,2 19.25). At batch 8 the B input vectors per weight vector make narrow groups with 4
 * rows pay; at batch 1 wide groups keep more loads in flight. Batches between were not measured.
 * Read-only; withTuning (runtime/tuning.ts) overrides knobs for a run. An engine given its own split
 * (DecodeEngine's `gemv` option, `clusterkv e2e --gemv`) uses that one instead: a parameter of that run.
 */
export const gemvTuning = tunable({
  /** batches up to this size take `smallBatch`, larger ones `largeBatch` */
  smallBatchUpTo: 2,
  smallBatch: { threadsPerRow: 256, rowsPerThread: 2, unroll: 2 } as Readonly<GemvTuning>,
  largeBatch: { threadsPerRow: 32, rowsPerThread: 4, unroll: 2 } as Readonly<GemvTuning>,
});

/** The default work split for `batch` sequences (gemvTuning's). */
export function defaultGemvTuning(batch: number): GemvTuning {
  return { ...(batch <= gemvTuning.smallBatchUpTo ? gemvTuning.smallBatch : gemvTuning.largeBatch) };
}

/** Floats per thread in the lanes' reduction: R x B accumulators, and B sums of squares with the norm prologue. */
function reducedPerThread(rows: number, shape: GemvShape): number {
  return rows * shape.batch + (shape.norm ? shape.batch : 0);
}

/** The tuning actually used for a shape: R even for swiglu, R x B accumulators within the workgroup memory. */
export function gemvPlan(shape: GemvShape, tuning: GemvTuning = defaultGemvTuning(shape.batch), workgroupStorage = 32768): GemvTuning {
  const { threadsPerRow: tpr, unroll } = tuning;
  if (!(tpr >= 1 && tpr <= WG && (tpr & (tpr - 1)) === 0)) throw new RangeError(`gemv: threadsPerRow must be a power of two <= ${WG}, got ${tpr}`);
  if (!(Number.isInteger(unroll) && unroll >= 1 && unroll <= 8)) throw new RangeError(`gemv: unroll must be 1..8, got ${unroll}`);
  let r = Math.max(1, Math.floor(tuning.rowsPerThread));
  if (shape.epilogue === 'swiglu' && r % 2 === 1) r += 1;
  while (r > (shape.epilogue === 'swiglu' ? 2 : 1) && reducedPerThread(r, shape) * WG * 4 > workgroupStorage) r -= shape.epilogue === 'swiglu' ? 2 : 1;
  if (reducedPerThread(r, shape) * WG * 4 > workgroupStorage) throw new RangeError(`gemv: batch ${shape.batch} needs more workgroup memory than the device has`);
  // unrolled steps must tile the columns exactly (no guard in the loop body)
  const c4 = shape.cols / 4;
  const u = c4 % (tpr * unroll) === 0 ? unroll : 1;
  return { threadsPerRow: tpr, rowsPerThread: r, unroll: u };
}

function checkShape(s: GemvShape): void {
  if (!Number.isInteger(s.rows) || s.rows < 1) throw new RangeError(`gemv: rows must be a positive integer, got ${s.rows}`);
  if (!Number.isInteger(s.cols) || s.cols < 4 || s.cols % 4 !== 0) throw new RangeError(`gemv: cols must be a positive multiple of 4, got ${s.cols}`);
  if (!Number.isInteger(s.batch) || s.batch < 1 || s.batch > 8) throw new RangeError(`gemv: batch must be 1..8, got ${s.batch}`);
  if (s.epilogue === 'swiglu' && s.rows % 2 !== 0) throw new RangeError(`gemv: swiglu needs an even row count (gate and up interleaved), got ${s.rows}`);
}

/** Whether an epilogue reads a buffer of its own (the residual [B, rows] or the bias [rows]). */
export const readsExtra = (epilogue: GemvEpilogue): boolean => epilogue === 'residual' || epilogue === 'bias';

/**
 * The storage bindings of a product (this file's GEMV, gemm.ts's GEMM): 1 the weights W, 2 the input (vec4
 * f32), with the norm prologue its gain (vec4 f32), then for residual `res` or for bias `bias` (f32), then the
 * output (f32), each at the next binding.
 */
export function productBindings(W: Vec4Storage, epilogue: GemvEpilogue, input: string, output: string, norm = false): string {
  const lines = [W.decl, `@group(0) @binding(2) var<storage, read> ${input}: array<vec4<f32>>;`];
  let next = 3;
  if (norm) lines.push(`@group(0) @binding(${next++}) var<storage, read> gain: array<vec4<f32>>;`);
  if (readsExtra(epilogue)) lines.push(`@group(0) @binding(${next++}) var<storage, read> ${epilogue === 'residual' ? 'res' : 'bias'}: array<f32>;`);
  lines.push(`@group(0) @binding(${next}) var<storage, read_write> ${output}: array<f32>;`);
  return lines.join('\n');
}

/**
 * The storage buffers of a product in productBindings' order: W, the input, the norm's gain exactly when the
 * shape has the prologue, the residual or bias exactly when its epilogue reads one, the output. `who` names
 * the product in the error.
 */
export function productBuffers(shape: Pick<GemvShape, 'epilogue' | 'norm'>, b: { weights: GPUBuffer; input: GPUBuffer; gain?: GPUBuffer; extra?: GPUBuffer; output: GPUBuffer }, who: string): GPUBuffer[] {
  const extra = readsExtra(shape.epilogue);
  if (!!shape.norm !== !!b.gain || extra !== !!b.extra) throw new Error(`${who}: a ${shape.norm ? 'normed ' : ''}${shape.epilogue} product takes ${shape.norm ? 'a' : 'no'} gain and ${extra ? `a ${shape.epilogue}` : 'no residual or bias'}`);
  return [b.weights, b.input, ...(b.gain ? [b.gain] : []), ...(b.extra ? [b.extra] : []), b.output];
}

/** Workgroups of one product (1D). */
export function gemvWorkgroups(shape: GemvShape, plan: GemvTuning): number {
  return Math.ceil(shape.rows / ((WG / plan.threadsPerRow) * plan.rowsPerThread));
}

/**
 * WGSL of one product. Bindings: 0 params {rows, eps (norm)}, 1 W [rows, cols] (vec4 of the weights' dtype),
 * 2 x [B, cols] (vec4), (norm: gain [cols] (vec4)), (residual: res [B, rows]; bias: bias [rows]), then y.
 */
export function gemvShader(shape: GemvShape, plan: GemvTuning): string {
  checkShape(shape);
  const { rows, cols, batch: B, epilogue } = shape;
  const { threadsPerRow: TPR, rowsPerThread: R, unroll: U } = plan;
  const C4 = cols / 4;
  const GROUPS = WG / TPR;
  const RB = R * B;
  const norm = shape.norm ?? false;
  const RED = reducedPerThread(R, shape);
  const idx = (n: number) => Array.from({ length: n }, (_, i) => i);
  const lines: string[] = [];
  for (const r of idx(R)) lines.push(`  let wb${r} = min(row0 + ${r}u, P.rows - 1u) * C4;`);
  for (const r of idx(R)) for (const b of idx(B)) lines.push(`  var a${r}_${b} = 0.0;`);
  if (norm) for (const b of idx(B)) lines.push(`  var ss${b} = 0.0;`);
  const body: string[] = [];
  for (const u of idx(U)) body.push(`    let i${u} = i0 + ${u * TPR}u;`);
  const W = vec4Storage('W', 1, shape.weights ?? 'f32', shape.halfRead ?? 'unpacked');
  for (const u of idx(U)) for (const r of idx(R)) body.push(`    let w${u}_${r} = ${W.load(`wb${r} + i${u}`)};`);
  if (norm) for (const u of idx(U)) body.push(`    let g${u} = gain[i${u}];`);
  for (const u of idx(U)) for (const b of idx(B)) body.push(`    let x${u}_${b} = x[${b * C4}u + i${u}];`);
  if (norm) for (const u of idx(U)) for (const b of idx(B)) body.push(`    ss${b} += dot(x${u}_${b}, x${u}_${b});`);
  const input = (u: number, b: number) => (norm ? `x${u}_${b} * g${u}` : `x${u}_${b}`);
  for (const u of idx(U)) for (const r of idx(R)) for (const b of idx(B)) body.push(`    a${r}_${b} += dot(w${u}_${r}, ${input(u, b)});`);
  const store = idx(R).flatMap((r) => idx(B).map((b) => `  red[${r * B + b}u * WG + t] = a${r}_${b};`));
  if (norm) for (const b of idx(B)) store.push(`  red[${RB + b}u * WG + t] = ss${b};`);
  const bindings = productBindings(W, epilogue, 'x', 'y', norm);
  // the norm's scale of sequence b, from the group's summed squares (1 without the prologue)
  const scale = norm ? `inverseSqrt(red[(RB + b) * WG + g * TPR] / f32(${cols}) + P.eps)` : '1.0';
  const write =
    epilogue === 'plain'
      ? `    if (row < P.rows) { y[b * ROWS + row] = sum; }`
      : epilogue === 'bias'
        ? `    if (row < P.rows) { y[b * ROWS + row] = sum + bias[row]; }`
        : epilogue === 'residual'
        ? `    if (row < P.rows) { y[b * ROWS + row] = res[b * ROWS + row] + sum; }`
        : `    if (r % 2u == 0u && row + 1u < P.rows) {
      let up = red[(j + B) * WG + g * TPR] * scale;
      y[b * (ROWS / 2u) + row / 2u] = sum * (1.0 / (1.0 + exp(-sum))) * up;
    }`;
  return /* wgsl */ `${W.enable}
struct Params { rows: u32, eps: f32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
${bindings}
${shape.weights === 'f16' ? HALF_WGSL : ''}
const WG: u32 = ${WG}u;
const ROWS: u32 = ${rows}u;
const C4: u32 = ${C4}u;
const TPR: u32 = ${TPR}u;
const GROUPS: u32 = ${GROUPS}u;
const R: u32 = ${R}u;
const B: u32 = ${B}u;
const RB: u32 = ${RB}u;
var<workgroup> red: array<f32, ${RED * WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let grp = t / TPR;
  let lane = t % TPR;
  let row0 = (wid.x * GROUPS + grp) * R;
${lines.join('\n')}
  for (var i0 = lane; i0 < C4; i0 += ${TPR * U}u) {
${body.join('\n')}
  }
${store.join('\n')}
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var j = 0u; j < ${RED}u; j++) { red[j * WG + t] += red[j * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < GROUPS * RB) {
    let g = t / RB;
    let j = t % RB;
    let r = j / B;
    let b = j % B;
    let row = (wid.x * GROUPS + g) * R + r;
    let scale = ${scale};
    let sum = red[j * WG + g * TPR] * scale;
${write}
  }
}
`;
}
