/**
 * A fixed selection: every query head selects the same run of positions start..start+n-1 (StreamingLLM's
 * most recent tokens). One dispatch writing [R, n].
 */
import { bindDispatch, UniformBlock, type BoundDispatch } from '../runtime/step-recorder.js';

/** WGSL. Bindings: 0 params {n, start, count = R n}, 1 out [R, n] i32. Workgroups: ceil(R n / 256). */
export function positionRangeShader(): string {
  return /* wgsl */ `
struct Params { n: u32, start: u32, count: u32, pad0: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= P.count) { return; }
  out[id] = i32(P.start + id % P.n);
}
`;
}

/** The range kernel of `rows` query heads, bound once to `out` [rows, >= n]. */
export class PositionRangeKernel {
  private readonly bound: BoundDispatch;
  private readonly uniform: UniformBlock;

  constructor(
    private readonly rows: number,
    out: GPUBuffer,
    label: string,
  ) {
    this.uniform = new UniformBlock([1, 0, 0]);
    this.bound = bindDispatch(positionRangeShader(), this.uniform, [out], [1], 'selection', label);
  }

  /** The dispatch writing positions start..start+n-1 for every row (n >= 1). */
  dispatch(start: number, n: number): BoundDispatch {
    this.uniform.write([n, start, this.rows * n]);
    this.bound.workgroups[0] = Math.ceil((this.rows * n) / 256);
    return this.bound;
  }

  destroy(): void {
    this.uniform.destroy();
  }
}
