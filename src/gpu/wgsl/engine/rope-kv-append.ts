/**
 * RoPE and KV append, one dispatch, for the rows of a fused projection qkv [rows, (H + 2G) d] (q heads,
 * then k heads, then v heads): writes the rotated queries q [rows, H, d], and the rotated keys and the
 * values into the caches [B G, T, d]. Two layouts of the rows:
 *   decode   row b is sequence b's token at position `pos` (B rows, one RoPE row)
 *   prefill  row r is sequence `seq`'s token at position pos + r (count rows, RoPE row r)
 * RoPE in llama2.c's convention (rope.ts): pairs (2i, 2i+1) of a head rotate by angle pos * theta^(-2i/d):
 * (x0 c - x1 s, x0 s + x1 c). The cos and sin come from the host (rope [rows][d/2] of (cos, sin), computed
 * as rope.ts does, in float32), so the kernel does no trigonometry at large angles, where GPU sin/cos lose
 * accuracy. An f16 cache stores each pair as one u32 (storage-dtype.ts: round to nearest even).
 */
import { HALF_WGSL, type StorageDType } from './storage-dtype.js';

export type RopeRows = 'decode' | 'prefill';

/**
 * WGSL. Bindings: 0 params {pos, rows T, seq, count}, 1 qkv [rows, (H + 2G) d], 2 rope [rope rows, d/2] vec2
 * (cos, sin), 3 q [rows, H, d], 4 keys [B G, T, d], 5 values [B G, T, d] (f32, or u32 pairs for f16).
 * `batch`: B for decode (rows = B); unused for prefill (rows = count). Workgroups: ropeKvAppendWorkgroups.
 */
export function ropeKvAppendShader(batch: number, heads: number, kvHeads: number, headDim: number, kv: StorageDType = 'f32', rows: RopeRows = 'decode'): string {
  if (headDim % 2 !== 0) throw new RangeError(`rope: head dimension must be even, got ${headDim}`);
  const slots = heads + 2 * kvHeads;
  const cache = kv === 'f16' ? 'u32' : 'f32';
  const put = (buf: string, at: string, a: string, b: string) => (kv === 'f16' ? `${buf}[(${at}) / 2u] = pack2h(${a}, ${b});` : `${buf}[${at}] = ${a};\n    ${buf}[${at} + 1u] = ${b};`);
  // which sequence, position and RoPE row a row of qkv is
  const where =
    rows === 'decode'
      ? `  let seq = r;
  let pos = P.pos;
  let cs = rope[pair];`
      : `  let seq = P.seq;
  let pos = P.pos + r;
  let cs = rope[r * HALF + pair];`;
  return /* wgsl */ `
struct Params { pos: u32, rows: u32, seq: u32, count: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> rope: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> keys: array<${cache}>;
@group(0) @binding(5) var<storage, read_write> values: array<${cache}>;
${kv === 'f16' ? HALF_WGSL : ''}
const HALF: u32 = ${headDim / 2}u;
const D: u32 = ${headDim}u;
const H: u32 = ${heads}u;
const G: u32 = ${kvHeads}u;
const SLOTS: u32 = ${slots}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let id = gid.x + gid.y * nw.x * 64u;
  if (id >= ${rows === 'decode' ? `${batch * slots * (headDim / 2)}u` : 'P.count * SLOTS * HALF'}) { return; }
  let pair = id % HALF;
  let slot = (id / HALF) % SLOTS;
  let r = id / (HALF * SLOTS);
${where}
  let src = (r * SLOTS + slot) * D + 2u * pair;
  let x0 = qkv[src];
  let x1 = qkv[src + 1u];
  if (slot >= H + G) {
    let row = ((seq * G + slot - H - G) * P.rows + pos) * D + 2u * pair;
    ${put('values', 'row', 'x0', 'x1')}
    return;
  }
  let y0 = x0 * cs.x - x1 * cs.y;
  let y1 = x1 * cs.x + x0 * cs.y;
  if (slot < H) {
    let at = (r * H + slot) * D + 2u * pair;
    q[at] = y0;
    q[at + 1u] = y1;
  } else {
    let row = ((seq * G + slot - H) * P.rows + pos) * D + 2u * pair;
    ${put('keys', 'row', 'y0', 'y1')}
  }
}
`;
}

/** Workgroups of the rope/append dispatch over `rows` rows (decode: B), in two dimensions past 65535. */
export function ropeKvAppendWorkgroups(rows: number, heads: number, kvHeads: number, headDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil((rows * (heads + 2 * kvHeads) * (headDim / 2)) / 64));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}
