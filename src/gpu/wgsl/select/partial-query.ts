/**
 * InfiniGen's partial query on the GPU (src/sim/methods/infinigen-skewing.ts): per query head r,
 * q'_r = q_r M_r, M_r [d, d] the map onto its head's partial channels, so that q'_r . k is InfiniGen's
 * partial-channel score of every key (top-keys.ts then scores and selects with q'). partialQuery in
 * infinigen-skewing.ts is the tfjs form; a head is one small GEMV, so one thread per output element.
 */
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';

/**
 * WGSL. Bindings: 0 params {count = R d}, 1 q [R, d] f32, 2 map [R, d, d] f32 (row i, column j: M_r[i, j]),
 * 3 out [R, d] f32: out[r, j] = sum_i q[r, i] M_r[i, j]. Workgroups: ceil(R d / 256).
 */
export function partialQueryShader(headDim: number): string {
  return /* wgsl */ `
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> qmap: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
const D: u32 = ${headDim}u;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= P.count) { return; }
  let r = id / D;
  let j = id % D;
  var acc = 0.0;
  for (var i = 0u; i < D; i++) { acc += q[r * D + i] * qmap[(r * D + i) * D + j]; }
  out[id] = acc;
}
`;
}

/** The partial query of `rows` query heads, bound once to q [rows, d], map [rows, d, d] and out [rows, d]. */
export class PartialQueryKernel {
  readonly dispatch: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(rows: number, headDim: number, buffers: { q: GPUBuffer; map: GPUBuffer; out: GPUBuffer }, label: string) {
    const count = rows * headDim;
    this.uniform = new UniformBlock([count]);
    this.dispatch = bindDispatch(partialQueryShader(headDim), this.uniform, [buffers.q, buffers.map, buffers.out], [Math.ceil(count / 256)], 'selection', label);
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
