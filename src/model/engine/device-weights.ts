/**
 * The engine's weights as GPU buffers on tfjs's WebGPU device, laid out for its kernels:
 *   wqkv  [(H + 2G) d, dim]   rows of wq, then wk, then wv (one product per layer for all three)
 *   bqkv  [(H + 2G) d]        their biases (Qwen2), f32
 *   wo    [dim, H d]
 *   w13   [2 hidden, dim]     gate and up rows interleaved (row 2j gate j, 2j + 1 up j: gemv.ts's swiglu)
 *   w2    [dim, hidden]
 *   output [vocab, dim] (the embedding's buffer when tied), embedding [vocab, dim], gains [dim] f32
 * i.e. every matrix [out, in] (src/model keeps [in, out] for tfjs's matMul). Matrices and the embedding are
 * stored f32 or f16 (storage-dtype.ts), gains and biases f32.
 *
 * Sources: seeded random weights generated on the device (benchmarks: 29 GB at Llama-3-8B's shape are never
 * uploaded), or a checkpoint read a block at a time (weight-reader.ts: a file, or a model loaded in tfjs)
 * and converted on the host (storage-convert.ts), never held whole in host memory.
 */
import { STORAGE_BYTES, storageBytes, type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import { FILL_GROUPS, uniformFillShader } from '../../gpu/wgsl/engine/seeded-fill.js';
import { bindDispatch, recordStep, storageBuffer, UniformBlock, writeBuffer } from '../../gpu/wgsl/runtime/step-recorder.js';
import { qkvRows, type EngineShape } from './shape.js';
import { toStorage } from './storage-convert.js';
import { deviceFillSeed } from '../../trace/seeds.js';
import type { WeightName, WeightReader } from './weight-reader.js';

export interface EngineLayerWeights {
  attnNorm: GPUBuffer;
  wqkv: GPUBuffer;
  /** f32 biases of q, k, v (Qwen2); absent without */
  bqkv?: GPUBuffer;
  wo: GPUBuffer;
  ffnNorm: GPUBuffer;
  w13: GPUBuffer;
  w2: GPUBuffer;
}

export interface EngineWeights {
  shape: EngineShape;
  /** how the matrices and the embedding are stored */
  dtype: StorageDType;
  embedding: GPUBuffer;
  layers: EngineLayerWeights[];
  finalNorm: GPUBuffer;
  /** the output head; the embedding's buffer when tied */
  output: GPUBuffer;
  tied: boolean;
  /** how they were made, for reports */
  source: string;
  dispose(): void;
}

interface Fill {
  buffer: GPUBuffer;
  count: number;
  /** uniform in [offset - scale, offset + scale) */
  scale: number;
  offset: number;
  dtype: StorageDType;
}

/**
 * Seeded random weights made on the device: matrices uniform with variance 1 / in (so activations keep
 * their scale through the layers), gains 1, embedding uniform in [-1, 1); f16 weights are the f32 ones
 * rounded.
 */
export function randomEngineWeights(shape: EngineShape, seed: number, dtype: StorageDType = 'f32'): EngineWeights {
  const { dim, hiddenDim, heads, headDim, vocabSize } = shape;
  const fills: Fill[] = [];
  const matrix = (rows: number, cols: number, label: string): GPUBuffer => {
    const buffer = storageBuffer(storageBytes(rows * cols, dtype), label);
    fills.push({ buffer, count: rows * cols, scale: Math.sqrt(3 / cols), offset: 0, dtype });
    return buffer;
  };
  const gain = (label: string): GPUBuffer => {
    const buffer = storageBuffer(dim * 4, label);
    fills.push({ buffer, count: dim, scale: 0, offset: 1, dtype: 'f32' });
    return buffer;
  };
  const embedding = storageBuffer(storageBytes(vocabSize * dim, dtype), 'embedding');
  fills.push({ buffer: embedding, count: vocabSize * dim, scale: 1, offset: 0, dtype });
  const layers = Array.from({ length: shape.layers }, (_, l) => ({
    attnNorm: gain(`l${l}.attnNorm`),
    wqkv: matrix(qkvRows(shape), dim, `l${l}.wqkv`),
    wo: matrix(dim, heads * headDim, `l${l}.wo`),
    ffnNorm: gain(`l${l}.ffnNorm`),
    w13: matrix(2 * hiddenDim, dim, `l${l}.w13`),
    w2: matrix(dim, hiddenDim, `l${l}.w2`),
  }));
  const finalNorm = gain('finalNorm');
  const output = matrix(vocabSize, dim, 'output');
  const blocks = fills.map((f, i) => new UniformBlock([f.count, deviceFillSeed(seed, i), { f32: f.scale }, { f32: f.offset }]));
  recordStep(fills.map((f, i) => bindDispatch(uniformFillShader(f.dtype), blocks[i], [f.buffer], [Math.min(FILL_GROUPS, Math.ceil(f.count / 256))], 'init', `fill ${f.buffer.label}`)));
  for (const b of blocks) b.destroy();
  const all = [embedding, finalNorm, output, ...layers.flatMap((l) => Object.values(l))];
  return { shape, dtype, embedding, layers, finalNorm, output, tied: false, source: `seeded random (seed ${seed}), made on the device`, dispose: () => all.forEach((b) => b.destroy()) };
}

/** Elements per host block (8 MB of f16): reads and writes go a block at a time. */
const BLOCK_ELEMENTS = 1 << 22;

/**
 * A checkpoint's weights on the device as `dtype` (gains and biases f32), read block by block. `progress`
 * sees the bytes written so far and in all.
 */
export async function uploadEngineWeights(reader: WeightReader, shape: EngineShape, dtype: StorageDType, progress?: (done: number, total: number) => void): Promise<EngineWeights> {
  const c = reader.config;
  const { dim, hiddenDim: hid, heads: H, kvHeads: G, headDim: d, vocabSize: V } = shape;
  const created: GPUBuffer[] = [];
  const make = (bytes: number, label: string) => {
    const b = storageBuffer(bytes, label);
    created.push(b);
    return b;
  };
  const e = STORAGE_BYTES[dtype];
  let done = 0;
  const total = (shape.layers * (qkvRows(shape) * dim + dim * H * d + 3 * hid * dim) + V * dim * (c.tiedEmbeddings ? 1 : 2)) * e;
  const what = (name: WeightName, layer: number) => `${reader.source.path}: ${name}${['embedding', 'finalNorm', 'output'].includes(name) ? '' : ` of layer ${layer}`}`;
  /** rows of `name` (cols each) into `buffer` from its row `at`, as `as`, `step` rows per block at least (whole heads) */
  const copyRows = async (buffer: GPUBuffer, name: WeightName, layer: number, rows: number, cols: number, at: number, as: StorageDType, step: number) => {
    const eb = STORAGE_BYTES[as];
    const per = Math.max(step, Math.floor(BLOCK_ELEMENTS / cols / step) * step);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      writeBuffer(buffer, toStorage(await reader.read(name, layer, r0, n), as, what(name, layer)), (at + r0) * cols * eb);
      if (cols > 1) progress?.((done += n * cols * eb), total);
    }
  };
  /** gate row j -> row 2j, up row j -> row 2j + 1 of w13 (interleaved on the host, one write per block) */
  const copyGateUp = async (buffer: GPUBuffer, layer: number) => {
    const per = Math.max(1, Math.floor(BLOCK_ELEMENTS / dim / 2));
    for (let r0 = 0; r0 < hid; r0 += per) {
      const n = Math.min(per, hid - r0);
      const gate = toStorage(await reader.read('w1', layer, r0, n), dtype, what('w1', layer));
      const up = toStorage(await reader.read('w3', layer, r0, n), dtype, what('w3', layer));
      const both = dtype === 'f32' ? new Float32Array(2 * n * dim) : new Uint16Array(2 * n * dim);
      for (let r = 0; r < n; r++) {
        both.set(gate.subarray(r * dim, (r + 1) * dim), 2 * r * dim);
        both.set(up.subarray(r * dim, (r + 1) * dim), (2 * r + 1) * dim);
      }
      writeBuffer(buffer, both, 2 * r0 * dim * e);
      progress?.((done += 2 * n * dim * e), total);
    }
  };
  const vector = async (name: WeightName, layer: number, n: number, label: string, step = 1) => {
    const b = make(n * 4, label);
    await copyRows(b, name, layer, n, 1, 0, 'f32', step);
    return b;
  };
  try {
    const embedding = make(storageBytes(V * dim, dtype), 'embedding');
    await copyRows(embedding, 'embedding', 0, V, dim, 0, dtype, 1);
    const layers: EngineLayerWeights[] = [];
    for (let l = 0; l < shape.layers; l++) {
      const wqkv = make(storageBytes(qkvRows(shape) * dim, dtype), `l${l}.wqkv`);
      await copyRows(wqkv, 'wq', l, H * d, dim, 0, dtype, d);
      await copyRows(wqkv, 'wk', l, G * d, dim, H * d, dtype, d);
      await copyRows(wqkv, 'wv', l, G * d, dim, (H + G) * d, dtype, 1);
      let bqkv: GPUBuffer | undefined;
      if (c.qkvBias) {
        bqkv = make(qkvRows(shape) * 4, `l${l}.bqkv`);
        await copyRows(bqkv, 'bq', l, H * d, 1, 0, 'f32', d);
        await copyRows(bqkv, 'bk', l, G * d, 1, H * d, 'f32', d);
        await copyRows(bqkv, 'bv', l, G * d, 1, (H + G) * d, 'f32', 1);
      }
      const wo = make(storageBytes(dim * H * d, dtype), `l${l}.wo`);
      await copyRows(wo, 'wo', l, dim, H * d, 0, dtype, 1);
      const w13 = make(storageBytes(2 * hid * dim, dtype), `l${l}.w13`);
      await copyGateUp(w13, l);
      const w2 = make(storageBytes(dim * hid, dtype), `l${l}.w2`);
      await copyRows(w2, 'w2', l, dim, hid, 0, dtype, 1);
      layers.push({ attnNorm: await vector('attnNorm', l, dim, `l${l}.attnNorm`), wqkv, bqkv, wo, ffnNorm: await vector('ffnNorm', l, dim, `l${l}.ffnNorm`), w13, w2 });
    }
    const finalNorm = await vector('finalNorm', 0, dim, 'finalNorm');
    let output = embedding;
    if (!c.tiedEmbeddings) {
      output = make(storageBytes(V * dim, dtype), 'output');
      await copyRows(output, 'output', 0, V, dim, 0, dtype, 1);
    }
    return {
      shape,
      dtype,
      embedding,
      layers,
      finalNorm,
      output,
      tied: c.tiedEmbeddings,
      source: `${reader.source.format} ${reader.source.name} (${reader.stored} as ${dtype})`,
      dispose: () => created.forEach((b) => b.destroy()),
    };
  } catch (err) {
    created.forEach((b) => b.destroy());
    throw err;
  }
}
