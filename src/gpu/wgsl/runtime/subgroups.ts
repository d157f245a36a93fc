/**
 * The subgroup operations of our kernels as a few WGSL helper functions, generated for a subgroup mode
 * (capabilities.ts): native ('enable subgroups;', each helper one builtin) or emulated (tests: each helper
 * exchanges values through workgroup memory between two barriers, with subgroups of `size` consecutive
 * invocations, numbered backwards with lanes reversed, so that no kernel can lean on how invocations form
 * subgroups). Kernels call only these helpers, and only in workgroup-uniform control flow (the emulation
 * needs it for its barriers; subgroup builtins need subgroup uniformity), so both builds run the same text.
 *
 *   sgXorF / sgXorU / sgXorV4(v, m) the value of lane (lane ^ m)            (subgroupShuffleXor)
 *   sgShuffleU / sgShuffleF(v, src) the value of lane src                   (subgroupShuffle)
 *   sgAddU(v)                      the sum over the subgroup                (subgroupAdd)
 *   sgInclAddU(v)                  the sum over lanes 0..lane               (subgroupInclusiveAdd)
 *   sgMaxF(v), sgMinF(v)           max / min over the subgroup              (subgroupMax, subgroupMin)
 * Private variables sgLane (lane in the subgroup) and sgIdx (the subgroup's index in the workgroup, 0..WG/size-1)
 * are set by `init` at the top of main; `params` goes into main's parameter list, `attribute` after its
 * @workgroup_size (with 'subgroup-size-control': @subgroup_size(size), so the size the shader was generated
 * for is the size it runs with).
 */
import type { SubgroupMode } from './capabilities.js';

export interface SubgroupCode {
  /** directives, first in the module */
  enables: string;
  /** module-scope variables and the helper functions */
  decls: string;
  /** main's extra parameters (with a leading comma when not empty) */
  params: string;
  /** attributes of main after @workgroup_size */
  attribute: string;
  /** statements at the top of main (after `t`, the local invocation index, is in scope) */
  init: string;
}

export function subgroupCode(mode: SubgroupMode, workgroupSize: number): SubgroupCode {
  const SG = mode.size;
  if (workgroupSize % SG !== 0) throw new RangeError(`workgroup size ${workgroupSize} is not a multiple of the subgroup size ${SG}`);
  if (mode.kind === 'native') {
    return {
      enables: mode.sizeControl ? 'enable subgroups;\nenable subgroup_size_control;' : 'enable subgroups;',
      attribute: mode.sizeControl ? ` @subgroup_size(${SG})` : '',
      decls: /* wgsl */ `
var<private> sgLane: u32;
var<private> sgIdx: u32;
var<workgroup> sgCounter: atomic<u32>;
fn sgXorF(v: f32, m: u32) -> f32 { return subgroupShuffleXor(v, m); }
fn sgXorV4(v: vec4<f32>, m: u32) -> vec4<f32> { return subgroupShuffleXor(v, m); }
fn sgXorU(v: u32, m: u32) -> u32 { return subgroupShuffleXor(v, m); }
fn sgShuffleU(v: u32, src: u32) -> u32 { return subgroupShuffle(v, src); }
fn sgShuffleF(v: f32, src: u32) -> f32 { return subgroupShuffle(v, src); }
fn sgAddU(v: u32) -> u32 { return subgroupAdd(v); }
fn sgInclAddU(v: u32) -> u32 { return subgroupInclusiveAdd(v); }
fn sgMaxF(v: f32) -> f32 { return subgroupMax(v); }
fn sgMinF(v: f32) -> f32 { return subgroupMin(v); }
`,
      params: ', @builtin(subgroup_invocation_id) sgInvocation: u32',
      // the subgroup's index: one atomic per subgroup (no assumption on how invocations form subgroups)
      init: `  sgLane = sgInvocation;
  var sgSlot = 0u;
  if (subgroupElect()) { sgSlot = atomicAdd(&sgCounter, 1u); }
  sgIdx = subgroupBroadcastFirst(sgSlot);`,
    };
  }
  // the exchange slots of the invocation's subgroup, indexed by lane
  const base = 'sgBase';
  const exchange = (value: string) => `workgroupBarrier();
  sgx[sgBase + sgLane] = ${value};
  workgroupBarrier();`;
  const fold = (init: string, op: (acc: string, x: string) => string, upTo: string, conv: (x: string) => string) => `  var acc = ${init};
  for (var i = 0u; i < ${upTo}; i++) { acc = ${op('acc', conv(`sgx[${base} + i]`))}; }
  return acc;`;
  const asF = (x: string) => `bitcast<f32>(${x})`;
  const asU = (x: string) => x;
  return {
    enables: '',
    attribute: '',
    decls: /* wgsl */ `
var<private> sgLane: u32;
var<private> sgIdx: u32;
var<private> sgBase: u32;
var<workgroup> sgx: array<u32, ${workgroupSize}>;
fn sgXorF(v: f32, m: u32) -> f32 {
  ${exchange('bitcast<u32>(v)')}
  return bitcast<f32>(sgx[sgBase + (sgLane ^ m)]);
}
fn sgXorV4(v: vec4<f32>, m: u32) -> vec4<f32> { return vec4<f32>(sgXorF(v.x, m), sgXorF(v.y, m), sgXorF(v.z, m), sgXorF(v.w, m)); }
fn sgXorU(v: u32, m: u32) -> u32 {
  ${exchange('v')}
  return sgx[sgBase + (sgLane ^ m)];
}
fn sgShuffleU(v: u32, src: u32) -> u32 {
  ${exchange('v')}
  return sgx[sgBase + src];
}
fn sgShuffleF(v: f32, src: u32) -> f32 { return bitcast<f32>(sgShuffleU(bitcast<u32>(v), src)); }
fn sgAddU(v: u32) -> u32 {
  ${exchange('v')}
${fold('0u', (a, x) => `${a} + ${x}`, `${SG}u`, asU)}
}
fn sgInclAddU(v: u32) -> u32 {
  ${exchange('v')}
${fold('0u', (a, x) => `${a} + ${x}`, 'sgLane + 1u', asU)}
}
fn sgMaxF(v: f32) -> f32 {
  ${exchange('bitcast<u32>(v)')}
${fold('-3.402823e38', (a, x) => `max(${a}, ${x})`, `${SG}u`, asF)}
}
fn sgMinF(v: f32) -> f32 {
  ${exchange('bitcast<u32>(v)')}
${fold('3.402823e38', (a, x) => `min(${a}, ${x})`, `${SG}u`, asF)}
}
`,
    params: '',
    // subgroups of consecutive invocations, but numbered backwards and with their lanes reversed: a kernel
    // that takes t for (subgroup, lane) order fails here as it could on a GPU
    init: `  sgBase = (t / ${SG}u) * ${SG}u;
  sgLane = ${SG - 1}u - t % ${SG}u;
  sgIdx = ${workgroupSize / SG - 1}u - t / ${SG}u;`,
  };
}
