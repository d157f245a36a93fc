/**
 * A method's batched selection (batched-selector.ts, what the decode engine runs) against its tfjs
 * LayerSelector on the same keys and queries: B sequences through one batched selector on buffers laid out
 * as the engine's (keys [B G, T, d] holding only the positions written so far, queries [B H, d]), and
 * through one LayerSelector each, from the prompt through closing decode windows. Each step's token list
 * (the selected positions through the engine's token-list kernel: sinks, selected, open window) must hold,
 * per query head, the very positions the LayerSelector attends (as sets: order is not meaningful).
 * Used by the per-method tests (software adapter) and by `clusterkv parity --backend webgpu` (runParity).
 */
import * as tf from '@tensorflow/tfjs-core';
import { storageBytes, type StorageDType } from '../gpu/wgsl/engine/storage-dtype.js';
import { bindDispatch, readBuffer, recordStep, storageBuffer, UniformBlock, writeBuffer, type BoundDispatch } from '../gpu/wgsl/runtime/step-recorder.js';
import { tokenListShader } from '../gpu/wgsl/select/token-list.js';
import { encodeFloat16, roundToFloat16 } from '../trace/float16.js';
import { SeededRandom } from '../trace/random.js';
import { listCapacity, type BatchedLayer, type BatchedPlan } from './batched-selector.js';
import { createMethod, METHODS } from './methods/index.js';
import type { Method, ParamValue } from './selector.js';

export interface BatchedParityCase {
  method: string;
  params: Readonly<Record<string, ParamValue>>;
  /** sequences B, query heads H, KV heads G, head dimension d per sequence */
  batch: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** prompt length P and decode steps after it */
  prompt: number;
  steps: number;
  seed: number;
  /** the layer index the selectors are made for (seeds derive from it) */
  layer?: number;
  /** how the keys buffer stores them (default f32; f16: the keys rounded to f16, as an f16 KV cache holds them) */
  keys?: StorageDType;
  /** hand seeded prompt queries to both selectors (default: where the method's form takes them; false: neither gets any) */
  promptQueries?: boolean;
}

export interface BatchedParityResult {
  /** the method and its parameters, one line */
  label: string;
  /** lists compared (steps x sequences x query heads) */
  lists: number;
  /** lists whose positions differ from the LayerSelector's (or whose length does) */
  mismatches: number;
  /** the first mismatch, described (absent when none) */
  first?: string;
  /** steps that selected at least one position, and decode windows that closed */
  selectingSteps: number;
  /** empty slots (negative positions: a selection that took fewer than its slots) over every list compared */
  emptySlots: number;
  closedWindows: number;
}

/**
 * Keys, values [G, T, d] per sequence and queries [steps][H d] per sequence, seeded (keys rounded to f16 with
 * `keys` f16); then the prompt's queries [P, H, d] per sequence (drawn last, so the rest is the same without them).
 */
export function parityInputs(c: Pick<BatchedParityCase, 'batch' | 'heads' | 'kvHeads' | 'headDim' | 'prompt' | 'steps' | 'seed' | 'keys'>) {
  const T = c.prompt + c.steps;
  const rand = new SeededRandom(c.seed);
  const normals = (n: number) => Float32Array.from({ length: n }, () => rand.normal());
  const kv = () => Array.from({ length: c.batch }, () => normals(c.kvHeads * T * c.headDim));
  const keys = kv().map((k) => (c.keys === 'f16' ? roundToFloat16(k) : k));
  const values = kv();
  const queries = Array.from({ length: c.batch }, () => Array.from({ length: c.steps }, () => normals(c.heads * c.headDim)));
  const promptQueries = Array.from({ length: c.batch }, () => normals(c.prompt * c.heads * c.headDim));
  return { T, keys, values, queries, promptQueries };
}

/** Rows start..start+n-1 of [G, T, d] as [G, n, d]. */
export function rowsOf(x: Float32Array, G: number, T: number, d: number, start: number, n: number): Float32Array {
  const out = new Float32Array(G * n * d);
  for (let g = 0; g < G; g++) out.set(x.subarray((g * T + start) * d, (g * T + start + n) * d), g * n * d);
  return out;
}

/**
 * Buffers laid out as the decode engine's for one layer of B sequences (keys [B G, T, d] holding only the
 * positions written so far, f32 or f16 as the engine's KV cache stores them, queries [B H, d], the selected
 * positions and the token list) and the BatchedLayer over them; runs a batched plan's dispatches and the
 * token-list kernel, as the engine does.
 */
export class BatchedHarness {
  readonly layer: BatchedLayer;
  private readonly shadow: Float32Array;
  private readonly buf: Record<'keys' | 'queries' | 'selected' | 'list', GPUBuffer>;
  private readonly scratch = new Map<string, GPUBuffer>();
  private readonly listUniform = new UniformBlock([0, 0, 0, 0]);
  private readonly listDispatch: BoundDispatch;

  /** shape per sequence: H query heads, G KV heads, d; T positions; maxSelected, listMax per query head. */
  constructor(
    readonly shape: { layer: number; batch: number; heads: number; kvHeads: number; headDim: number; capacity: number },
    maxSelected: number,
    listMax: number,
    private readonly keyDtype: StorageDType = 'f32',
  ) {
    const { batch: B, heads: H, kvHeads: G, headDim: d, capacity: T } = shape;
    this.shadow = new Float32Array(B * G * T * d);
    this.buf = { keys: storageBuffer(storageBytes(this.shadow.length, keyDtype)), queries: storageBuffer(B * H * d * 4), selected: storageBuffer(B * H * maxSelected * 4), list: storageBuffer(B * H * listMax * 4) };
    this.listDispatch = bindDispatch(tokenListShader(B * H), this.listUniform, [this.buf.selected, this.buf.list], [1], 'selection', 'token list');
    this.layer = {
      ...shape,
      keys: this.buf.keys,
      keyDtype,
      keyRows: (start, n) => {
        const out = new Float32Array(B * G * n * d);
        for (let r = 0; r < B * G; r++) out.set(this.shadow.subarray((r * T + start) * d, (r * T + start + n) * d), r * n * d);
        return tf.tensor3d(out, [B * G, n, d]);
      },
      queries: this.buf.queries,
      selected: this.buf.selected,
      largestBudget: maxSelected,
      scratch: (name, bytes) => {
        if (!this.scratch.has(name)) this.scratch.set(name, storageBuffer(bytes, `scratch ${name}`));
        return this.scratch.get(name)!;
      },
    };
  }

  /** Writes positions start..start+n-1 of every sequence's keys ([G, T, d] each, the same T; f16-exact values with an f16 buffer). */
  writeKeys(keys: Float32Array[], start: number, n: number): void {
    const { kvHeads: G, headDim: d, capacity: T } = this.shape;
    keys.forEach((k, b) => {
      for (let g = 0; g < G; g++) this.shadow.set(k.subarray((g * T + start) * d, (g * T + start + n) * d), ((b * G + g) * T + start) * d);
    });
    writeBuffer(this.buf.keys, this.keyDtype === 'f16' ? encodeFloat16(this.shadow) : this.shadow);
  }

  /** Writes the step's queries [B H, d]. */
  writeQueries(q: Float32Array): void {
    writeBuffer(this.buf.queries, q);
  }

  /** Records a plan's dispatches and the token list, and reads the lists [B H, listLength] back. */
  async lists(plan: BatchedPlan): Promise<Int32Array> {
    const { layout, selected, listLength } = plan;
    const rows = this.shape.batch * this.shape.heads;
    this.listUniform.write([selected, layout.sinkEnd, layout.openStart, listLength]);
    this.listDispatch.workgroups[0] = Math.ceil((rows * listLength) / 256);
    recordStep([...plan.dispatches, this.listDispatch]);
    return new Int32Array(await readBuffer(this.buf.list, rows * listLength * 4));
  }

  destroy(): void {
    this.listUniform.destroy();
    for (const b of [...Object.values(this.buf), ...this.scratch.values()]) b.destroy();
  }
}

/** Runs one case; leaves no tensor or buffer behind. The webgpu backend must be active. */
export async function batchedParity(c: BatchedParityCase): Promise<BatchedParityResult> {
  const method: Method = createMethod(c.method, c.params);
  const form = method.engine;
  if (form?.kind !== 'batched') throw new RangeError(`batched parity: method '${c.method}' has no batched form`);
  const { batch: B, heads: H, kvHeads: G, headDim: d, prompt: P, steps } = c;
  const layerIndex = c.layer ?? Math.max(form.budget.denseLayers, 3);
  const { T, keys, values, queries, promptQueries } = parityInputs(c);
  const handQueries = c.promptQueries ?? form.promptQueries;
  const { budget } = form.budget;
  const harness = new BatchedHarness({ layer: layerIndex, batch: B, heads: H, kvHeads: G, headDim: d, capacity: T }, budget, listCapacity(form.budget, budget), c.keys);
  const info = { layer: layerIndex, heads: H, kvHeads: G, headDim: d };
  const reference = Array.from({ length: B }, () => method.forLayer(info));
  const batched = form.forLayer(harness.layer);
  const result: BatchedParityResult = { label: `${c.method} ${JSON.stringify(c.params)}${c.keys === 'f16' ? ' f16 keys' : ''}`, lists: 0, mismatches: 0, selectingSteps: 0, emptySlots: 0, closedWindows: 0 };
  try {
    harness.writeKeys(keys, 0, P);
    for (let b = 0; b < B; b++) {
      const [k, v] = [tf.tensor3d(rowsOf(keys[b], G, T, d, 0, P), [G, P, d]), tf.tensor3d(rowsOf(values[b], G, T, d, 0, P), [G, P, d])];
      const q = handQueries ? (tf.tidy(() => tf.transpose(tf.tensor3d(promptQueries[b], [P, H, d]), [1, 0, 2])) as tf.Tensor3D) : undefined;
      reference[b].prefill(k, v, q);
      tf.dispose([k, v, ...(q ? [q] : [])]);
      if (handQueries) batched.promptQueries!(b, 0, promptQueries[b]);
    }
    await batched.prefill(P);
    for (let t = 0; t < steps; t++) {
      const pos = P + t;
      harness.writeKeys(keys, pos, 1);
      const q = new Float32Array(B * H * d);
      for (let b = 0; b < B; b++) q.set(queries[b][t], b * H * d);
      harness.writeQueries(q);
      const plan = batched.step(pos, budget);
      const lists = await harness.lists(plan);
      if (plan.selected > 0) result.selectingSteps++;
      result.closedWindows = plan.layout.closedWindows;
      for (let b = 0; b < B; b++) {
        const [qt, k, v] = [tf.tensor2d(queries[b][t], [H, d]), tf.tensor3d(rowsOf(keys[b], G, T, d, pos, 1), [G, 1, d]), tf.tensor3d(rowsOf(values[b], G, T, d, pos, 1), [G, 1, d])];
        const sel = await reference[b].step(qt, k, v);
        const want = (await sel.tokens.array()) as number[][];
        tf.dispose([qt, k, v, sel.tokens]);
        for (let h = 0; h < H; h++) {
          result.lists++;
          const n = plan.listLength;
          // (a negative position is an empty slot: attends nothing)
          const row = Array.from(lists.subarray((b * H + h) * n, (b * H + h + 1) * n));
          const got = row.filter((p) => p >= 0).sort((x, y) => x - y);
          result.emptySlots += row.length - got.length;
          const wantHead = want[h].filter((p) => p >= 0).sort((x, y) => x - y);
          if (got.length === wantHead.length && got.every((p, i) => p === wantHead[i])) continue;
          result.mismatches++;
          result.first ??= `step ${t} (position ${pos}), sequence ${b}, head ${h}: batched [${got.join(',')}], tfjs [${wantHead.join(',')}]`;
        }
      }
    }
  } finally {
    batched.dispose();
    for (const r of reference) r.dispose();
    harness.destroy();
  }
  return result;
}

/** Small shapes every batched method is checked at: GQA 4:2, two sequences, windows closing. */
const SHAPE = { batch: 2, heads: 4, kvHeads: 2, headDim: 8, prompt: 30, steps: 14, seed: 5 } as const;
const SHARED = { budget: 8, sinks: 4, window: 6, denseLayers: 0 } as const;

/**
 * Parameters of each method with a batched form at the parity shape, beyond the shared ones (every
 * registered batched method must have an entry: batchedParityCases says which have none).
 */
export const BATCHED_PARITY_PARAMS: Readonly<Record<string, readonly Readonly<Record<string, ParamValue>>[]>> = {
  oracle: [{}, { budgetMode: 'including-sinks', budget: 12 }],
  clusterkv: [
    { windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false },
    { windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false, scoring: 'bound' },
  ],
  'clusterkv-refine': [
    { windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false, refine: 2 },
    { windowClusters: 2, tokensPerCluster: 5, iters: 4, seed: 7, diagnostics: false, scoring: 'bound', refine: 3 },
  ],
  quest: [{ pageSize: 4 }],
  infllm: [{ blockSize: 5, representativeKeys: 2 }],
  streaming: [{}],
  random: [{ seed: 3 }],
  h2o: [{}, { recentRatio: 0.25, budget: 10 }],
  // the threshold's alpha small enough that heads take fewer than B (empty slots) at this shape's logits;
  // query 'exact': the engine's form scores the step's own query ('speculated' is reference-only there)
  infinigen: [
    { select: 'top-b', query: 'exact' },
    { select: 'top-b', partialRatio: 0.5, query: 'exact' },
    { select: 'threshold', alpha: 0.5, query: 'exact' },
    { select: 'threshold', alpha: 1, partialRatio: 0.5, query: 'exact' },
  ],
};

/** The parity cases of every registered method with a batched form, and the batched methods with no parameters here. */
export function batchedParityCases(): { cases: BatchedParityCase[]; missing: string[] } {
  const batchedNames = METHODS.filter((m) => m.engine?.kind === 'batched').map((m) => m.name);
  const cases = batchedNames.flatMap((name) => (BATCHED_PARITY_PARAMS[name] ?? []).map((extra) => ({ method: name, params: { ...SHARED, ...extra }, ...SHAPE })));
  return { cases, missing: batchedNames.filter((name) => !BATCHED_PARITY_PARAMS[name]) };
}
