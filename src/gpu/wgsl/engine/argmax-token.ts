/**
 * Greedy sampling on the device: per sequence the index of the largest logit (ties: the lowest index, as
 * tf.argMax), written as the next input token and into a history row, so decode steps chain on the GPU and
 * the host reads tokens back only when it wants them.
 *
 * Two passes, because one workgroup over a 128K vocabulary was a quarter of a 1B model's dense step
 * (bench/README.md, the 1B shape's dispatch kinds): the partial pass spreads the vocabulary over
 * ceil(V / CHUNK) workgroups per sequence, each with its loads issued together, and writes one (value, index)
 * pair per chunk; the merge pass reduces a sequence's pairs in one workgroup and writes the token.
 */

const WG = 256;
/** Logits one thread of the partial pass reads (all loads issued before the compares). */
const PER_THREAD = 8;
/** Logits one workgroup of the partial pass reduces. */
export const ARGMAX_CHUNK = WG * PER_THREAD;

/** Chunks (partial pairs) per sequence for a vocabulary of `vocab` logits. */
export function argmaxChunks(vocab: number): number {
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`argmax: vocab must be a positive integer, got ${vocab}`);
  return Math.ceil(vocab / ARGMAX_CHUNK);
}

/** Workgroups of the partial pass: [chunks, B]. */
export function argmaxPartialWorkgroups(vocab: number, batch: number): [number, number] {
  return [argmaxChunks(vocab), batch];
}

/** Bytes of the partial pairs buffer: [B, chunks] pairs of (f32 bits, u32 index). */
export function argmaxPartialBytes(vocab: number, batch: number): number {
  return batch * argmaxChunks(vocab) * 8;
}

// the reduction of (value, index) pairs in workgroup memory shared by both passes: larger value wins, on a tie
// the lower index; NONE marks a thread that saw no logit
const TREE = /* wgsl */ `
const WG: u32 = ${WG}u;
const NONE: u32 = 0xffffffffu;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return i != NONE && (j == NONE || v > w || (v == w && i < j));
}
fn reduceTree(t: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s && better(bestV[t + s], bestI[t + s], bestV[t], bestI[t])) { bestV[t] = bestV[t + s]; bestI[t] = bestI[t + s]; }
    workgroupBarrier();
  }
}`;

/**
 * WGSL of the partial pass. Bindings: 0 params {vocab, step}, 1 logits [B, V], 2 partial [B, chunks]
 * (vec2<u32>: the value's bits, its index) (out). Workgroups: argmaxPartialWorkgroups.
 */
export function argmaxPartialShader(): string {
  const k = Array.from({ length: PER_THREAD }, (_, i) => i);
  return /* wgsl */ `
struct Params { vocab: u32, step: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec2<u32>>;
${TREE}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wid.y;
  let base = b * P.vocab;
  let first = wid.x * ${ARGMAX_CHUNK}u + t;
  let last = P.vocab - 1u;
${k.map((i) => `  let x${i} = logits[base + min(first + ${i * WG}u, last)];`).join('\n')}
  var v = 0.0;
  var best = NONE;
${k.map((i) => `  if (first + ${i * WG}u <= last && better(x${i}, first + ${i * WG}u, v, best)) { v = x${i}; best = first + ${i * WG}u; }`).join('\n')}
  bestV[t] = v;
  bestI[t] = best;
  reduceTree(t);
  if (t == 0u) { partial[b * ((P.vocab + ${ARGMAX_CHUNK - 1}u) / ${ARGMAX_CHUNK}u) + wid.x] = vec2<u32>(bitcast<u32>(bestV[0]), bestI[0]); }
}
`;
}

/**
 * WGSL of the merge pass. Bindings: 0 params {vocab, step}, 1 partial [B, chunks] (vec2<u32>), 2 tokens [B]
 * i32 (out), 3 history [steps, B] i32 (row `step` written). Workgroups: B.
 */
export function argmaxMergeShader(batch: number): string {
  return /* wgsl */ `
struct Params { vocab: u32, step: u32, pad0: u32, pad1: u32 };
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> partial: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(3) var<storage, read_write> history: array<i32>;
const B: u32 = ${batch}u;
const CHUNK: u32 = ${ARGMAX_CHUNK}u;
${TREE}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wid.x;
  let chunks = (P.vocab + CHUNK - 1u) / CHUNK;
  var v = 0.0;
  var best = NONE;
  for (var c = t; c < chunks; c += WG) {
    let p = partial[b * chunks + c];
    if (better(bitcast<f32>(p.x), p.y, v, best)) { v = bitcast<f32>(p.x); best = p.y; }
  }
  bestV[t] = v;
  bestI[t] = best;
  reduceTree(t);
  if (t == 0u) {
    tokens[b] = i32(bestI[0]);
    history[P.step * B + b] = i32(bestI[0]);
  }
}
`;
}
