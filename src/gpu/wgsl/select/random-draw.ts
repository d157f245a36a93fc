/**
 * The random method's draws on the GPU, position for position the host's: per query head, `k` distinct
 * indices of 0..m-1 by a partial Fisher-Yates shuffle (distinctIndices in src/trace/random.ts) from the
 * layer's mulberry32 stream, draw after draw as the host makes them: head h of a step draws numbers
 * n0 + h k + 1 .. n0 + h k + k of the stream (n0: the draws of earlier steps), and mulberry32's state after
 * n draws is seed + n 0x6D2B79F5 (mod 2^32), so each workgroup jumps straight to its head's first draw.
 * The host's j = i + floor(u (m - i)), u = x / 2^32, is exactly the high word of the 64-bit product
 * x (m - i) (x (m - i) < 2^53 is exact in a double), computed here from 16-bit halves.
 *
 * One workgroup per query head: the pool (0..m-1) in a scratch row of global memory, the k swaps by one
 * thread (they depend on each other), then the first k entries, offset by `start`, to the output.
 */
import { MULBERRY_STEP } from '../../../trace/random.js';
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';

/** A mulberry32 state `draws` draws after `state` (mod 2^32). */
export function advanceMulberry(state: number, draws: number): number {
  return (state + Math.imul(draws >>> 0, MULBERRY_STEP)) >>> 0;
}

const WG = 256;

/**
 * WGSL. Bindings: 0 params {heads H (a stream's heads: row r draws as head r mod H), start, m, k, state,
 * stride}, 1 pool [R, stride] i32 (scratch), 2 out [R, k] i32. Workgroups: R.
 */
export function randomDrawShader(): string {
  return /* wgsl */ `
struct Params { heads: u32, start: u32, m: u32, k: u32, state: u32, stride: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> pool: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;
const WG: u32 = ${WG}u;
const STEP: u32 = ${MULBERRY_STEP}u;

// high 32 bits of the 64-bit product x y
fn mulHigh(x: u32, y: u32) -> u32 {
  let xl = x & 0xffffu;
  let xh = x >> 16u;
  let yl = y & 0xffffu;
  let yh = y >> 16u;
  let ll = xl * yl;
  let hl = xh * yl;
  let lh = xl * yh;
  let cross = (ll >> 16u) + (hl & 0xffffu) + (lh & 0xffffu);
  return xh * yh + (hl >> 16u) + (lh >> 16u) + (cross >> 16u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wid.x;
  let base = r * P.stride;
  for (var j = t; j < P.m; j += WG) { pool[base + j] = i32(j); }
  storageBarrier();
  if (t == 0u) {
    var a = P.state + (r % P.heads) * P.k * STEP;
    for (var i = 0u; i < P.k; i++) {
      a += STEP;
      var x = a;
      x = (x ^ (x >> 15u)) * (x | 1u);
      x = x ^ (x + (x ^ (x >> 7u)) * (x | 61u));
      x = x ^ (x >> 14u);
      let j = i + mulHigh(x, P.m - i);
      let held = pool[base + i];
      pool[base + i] = pool[base + j];
      pool[base + j] = held;
    }
  }
  storageBarrier();
  for (var i = t; i < P.k; i += WG) { out[r * P.k + i] = pool[base + i] + i32(P.start); }
}
`;
}

/** The draws of `rows` query heads (streams of `heads` heads each), bound once to a pool [rows, stride] and out [rows, >= k]. */
export class RandomDrawKernel {
  private readonly bound: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(
    rows: number,
    private readonly heads: number,
    private readonly stride: number,
    pool: GPUBuffer,
    out: GPUBuffer,
    label: string,
  ) {
    this.uniform = new UniformBlock([heads, 0, 1, 0, 0, stride]);
    this.bound = bindDispatch(randomDrawShader(), this.uniform, [pool, out], [rows], 'selection', label);
  }

  /**
   * The dispatch drawing k of the m positions start..start+m-1 per head, from stream state `state` (the
   * state before this step's first draw). 1 <= k <= m <= stride.
   */
  dispatch(start: number, m: number, k: number, state: number): BoundDispatch {
    if (m > this.stride) throw new RangeError(`random draw: ${m} positions exceed the pool's ${this.stride}`);
    this.uniform.write([this.heads, start, m, k, state, this.stride]);
    return this.bound;
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
