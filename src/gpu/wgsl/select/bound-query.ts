/**
 * The query of a box scoring (cluster-bounds.ts: Quest's pages, ClusterKV's 'bound' scoring) on the GPU:
 * q [R, d] -> [R, 2d] = [relu(q), min(q, 0)], so that the select kernel's inner product with a box summary
 * [max, min] is Quest's upper bound of q.k over the box. boundQuery in cluster-bounds.ts is the tfjs form.
 */
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';

/** WGSL. Bindings: 0 params {count = R 2d}, 1 q [R, d] f32, 2 out [R, 2d] f32. Workgroups: ceil(R 2d / 256). */
export function boundQueryShader(headDim: number): string {
  return /* wgsl */ `
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
const D: u32 = ${headDim}u;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= P.count) { return; }
  let row = id / (2u * D);
  let i = id % (2u * D);
  if (i < D) {
    out[id] = max(q[row * D + i], 0.0);
  } else {
    out[id] = min(q[row * D + i - D], 0.0);
  }
}
`;
}

/** The bound query of `rows` query rows, bound once to q [rows, d] and out [rows, 2d]. */
export class BoundQueryKernel {
  readonly dispatch: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(rows: number, headDim: number, q: GPUBuffer, out: GPUBuffer, label: string) {
    const count = rows * 2 * headDim;
    this.uniform = new UniformBlock([count]);
    this.dispatch = bindDispatch(boundQueryShader(headDim), this.uniform, [q, out], [Math.ceil(count / 256)], 'selection', label);
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
