/**
 * Matrix products for prefill: Y[m, r] = sum_i X[m, i] W[r, i] for the n rows (tokens) of a prompt chunk,
 * W the engine's weight layout [rows, cols] (gemv.ts's, f32 or f16 read as storage-dtype.ts says), f32
 * accumulation. At n tokens per chunk a weight is read once per n rows instead of once per token, which
 * is what makes prefill compute-bound instead of bandwidth-bound.
 *
 * Tiling: a workgroup of 256 threads computes a tile of BM = 64 token rows x BN = 64 weight rows, stepping
 * over the columns BK = 16 at a time; each step stages X [64, 16] and W [64, 16] in workgroup memory
 * (transposed, so a thread's operands are contiguous), then thread (tx, ty) accumulates its 4 x 4 outputs:
 * token rows 4 ty.. and weight rows 4 tx... Ragged edges (n, rows, cols not multiples of the tile) load
 * zeros and store nothing.
 *
 * Epilogues (as gemv.ts's):
 *   plain     Y[m, r] = s
 *   bias      Y[m, r] = s + bias[r]
 *   residual  Y[m, r] = res[m, r] + s
 *   swiglu    rows interleaved gate_j = row 2j, up_j = row 2j + 1: Y[m, j] = silu(gate_j) up_j, Y [n, rows / 2]
 */
import { productBindings, type GemvEpilogue } from './gemv.js';
import { HALF_WGSL, vec4Storage, type HalfRead, type StorageDType } from './storage-dtype.js';

const BM = 64;
const BN = 64;
const BK = 16;
const WG = 256;

export interface GemmShape {
  /** weight rows (for swiglu: 2 x the output width) */
  rows: number;
  /** columns (a multiple of 4) */
  cols: number;
  epilogue: GemvEpilogue;
  weights: StorageDType;
  halfRead: HalfRead;
}

/** Workgroups of a product over n token rows: [weight-row tiles, token-row tiles]. */
export function gemmWorkgroups(shape: Pick<GemmShape, 'rows'>, n: number): [number, number] {
  return [Math.ceil(shape.rows / BN), Math.ceil(n / BM)];
}

/**
 * WGSL. Bindings: 0 params {n}, 1 W [rows, cols] (vec4 of the weights' dtype), 2 X [n, cols] (vec4),
 * (residual: 3 res [n, rows]; bias: 3 bias [rows]), then Y. Workgroups: gemmWorkgroups.
 */
export function gemmShader(shape: GemmShape): string {
  const { rows, cols, epilogue } = shape;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`gemm: rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(cols) || cols < 4 || cols % 4 !== 0) throw new RangeError(`gemm: cols must be a positive multiple of 4, got ${cols}`);
  if (epilogue === 'swiglu' && rows % 2 !== 0) throw new RangeError(`gemm: swiglu needs an even row count, got ${rows}`);
  const W = vec4Storage('W', 1, shape.weights, shape.halfRead);
  const bindings = productBindings(W, epilogue, 'X', 'Y');
  const store =
    epilogue === 'swiglu'
      ? `      for (var j = 0u; j < 4u; j += 2u) {
        let r = r0 + j;
        if (r + 1u < ROWS) {
          let g = acc[i][j];
          Y[m * (ROWS / 2u) + r / 2u] = g * (1.0 / (1.0 + exp(-g))) * acc[i][j + 1u];
        }
      }`
      : `      for (var j = 0u; j < 4u; j++) {
        let r = r0 + j;
        if (r < ROWS) { Y[m * ROWS + r] = ${epilogue === 'bias' ? 'acc[i][j] + bias[r]' : epilogue === 'residual' ? 'res[m * ROWS + r] + acc[i][j]' : 'acc[i][j]'}; }
      }`;
  return /* wgsl */ `${W.enable}
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
${bindings}
${shape.weights === 'f16' ? HALF_WGSL : ''}
const ROWS: u32 = ${rows}u;
const C4: u32 = ${cols / 4}u;
const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
var<workgroup> xs: array<f32, ${BK * BM}>;
var<workgroup> ws: array<f32, ${BK * BN}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  let tx = t % 16u;
  let ty = t / 16u;
  // the loads: thread t stages vec4 (t % 4) of token row (t / 4) and of weight row (t / 4)
  let lr = t / 4u;
  let lc = t % 4u;
  let xm = min(m0 + lr, max(P.n, 1u) - 1u);
  let xok = m0 + lr < P.n;
  let wr = min(n0 + lr, ROWS - 1u);
  let wok = n0 + lr < ROWS;
  var acc = array<vec4<f32>, 4>();
  for (var k4 = 0u; k4 < C4; k4 += BK / 4u) {
    let c = k4 + lc;
    var xv = vec4<f32>(0.0);
    var wv = vec4<f32>(0.0);
    if (c < C4) {
      if (xok) { xv = X[xm * C4 + c]; }
      if (wok) { wv = ${W.load('wr * C4 + c')}; }
    }
    workgroupBarrier();
    for (var e = 0u; e < 4u; e++) {
      xs[(lc * 4u + e) * BM + lr] = xv[e];
      ws[(lc * 4u + e) * BN + lr] = wv[e];
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a = vec4<f32>(xs[k * BM + ty * 4u], xs[k * BM + ty * 4u + 1u], xs[k * BM + ty * 4u + 2u], xs[k * BM + ty * 4u + 3u]);
      let b = vec4<f32>(ws[k * BN + tx * 4u], ws[k * BN + tx * 4u + 1u], ws[k * BN + tx * 4u + 2u], ws[k * BN + tx * 4u + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
  }
  let r0 = n0 + tx * 4u;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m < P.n) {
${store}
    }
  }
}
`;
}
