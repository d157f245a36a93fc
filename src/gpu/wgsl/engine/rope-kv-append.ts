/**
 * One decode token's RoPE and KV append for B sequences, one dispatch: from the fused projection
 * qkv [B, (H + 2G) d] (q heads, then k heads, then v heads) it writes the rotated queries q [B, H, d], and
 * the rotated keys and the values into row `pos` of the caches [B G, T, d].
 * RoPE in llama2.c's convention (rope.ts): pairs (2i, 2i+1) of a head rotate by angle pos * theta^(-2i/d):
 * (x0 c - x1 s, x0 s + x1 c). The cos and sin come from the host (rope [d/2] of (cos, sin), computed as
 * rope.ts does, in float32), so the kernel does no trigonometry at large angles, where GPU sin/cos lose
 * accuracy.
 */

/**
 * WGSL. Bindings: 0 params {pos, rows T}, 1 qkv [B, (H + 2G) d], 2 rope [d/2] vec2 (cos, sin), 3 q [B, H, d],
 * 4 keys [B G, T, d], 5 values [B G, T, d]. Workgroups: ceil(B (H + 2G) d/2 / 64).
 */
export function ropeKvAppendShader(batch: number, heads: number, kvHeads: number, headDim: number): string {
  if (headDim % 2 !== 0) throw new RangeError(`rope: head dimension must be even, got ${headDim}`);
  const slots = heads + 2 * kvHeads;
  return /* wgsl */ `
struct Params { pos: u32, rows: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> rope: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> keys: array<f32>;
@group(0) @binding(5) var<storage, read_write> values: array<f32>;
const HALF: u32 = ${headDim / 2}u;
const D: u32 = ${headDim}u;
const H: u32 = ${heads}u;
const G: u32 = ${kvHeads}u;
const SLOTS: u32 = ${slots}u;
const TOTAL: u32 = ${batch * slots * (headDim / 2)}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  if (id >= TOTAL) { return; }
  let pair = id % HALF;
  let slot = (id / HALF) % SLOTS;
  let b = id / (HALF * SLOTS);
  let src = (b * SLOTS + slot) * D + 2u * pair;
  let x0 = qkv[src];
  let x1 = qkv[src + 1u];
  if (slot >= H + G) {
    let row = ((b * G + slot - H - G) * P.rows + P.pos) * D + 2u * pair;
    values[row] = x0;
    values[row + 1u] = x1;
    return;
  }
  let cs = rope[pair];
  let y0 = x0 * cs.x - x1 * cs.y;
  let y1 = x1 * cs.x + x0 * cs.y;
  if (slot < H) {
    let at = (b * H + slot) * D + 2u * pair;
    q[at] = y0;
    q[at + 1u] = y1;
  } else {
    let row = ((b * G + slot - H) * P.rows + P.pos) * D + 2u * pair;
    keys[row] = y0;
    keys[row + 1u] = y1;
  }
}
`;
}

/** Workgroups of the rope/append dispatch. */
export function ropeKvAppendWorkgroups(batch: number, heads: number, kvHeads: number, headDim: number): number {
  return Math.ceil((batch * (heads + 2 * kvHeads) * (headDim / 2)) / 64);
}
