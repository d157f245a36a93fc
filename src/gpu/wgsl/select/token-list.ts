/**
 * The positions a ClusterKV decode step attends, per query head, as one list for sparse attention:
 * sinks 0..sinkEnd-1, then the nSel positions the select kernel chose (select-clusters.ts writes [H, nSel]), then
 * the open decode window openStart..pos (the current token last). src/sim/budget.ts defines the layout.
 */

/**
 * WGSL. Bindings: 0 params {nSel, sinkEnd, openStart, total}, 1 selected [H, nSel] i32, 2 list [H, total] i32.
 * Workgroups: ceil(H total / 256).
 */
export function tokenListShader(heads: number): string {
  return /* wgsl */ `
struct Params { nSel: u32, sinkEnd: u32, openStart: u32, total: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> selected: array<i32>;
@group(0) @binding(2) var<storage, read_write> list: array<i32>;
const H: u32 = ${heads}u;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= H * P.total) { return; }
  let h = id / P.total;
  let j = id % P.total;
  var pos = 0;
  if (j < P.sinkEnd) {
    pos = i32(j);
  } else if (j < P.sinkEnd + P.nSel) {
    pos = selected[h * P.nSel + j - P.sinkEnd];
  } else {
    pos = i32(P.openStart + j - P.sinkEnd - P.nSel);
  }
  list[id] = pos;
}
`;
}
