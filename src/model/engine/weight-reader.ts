/**
 * A checkpoint's tensors in the engine's layout, read a block at a time as raw little-endian bytes, so that
 * a model of 8B parameters goes to the GPU without ever being a tfjs model or a float32 copy on the host:
 * every matrix [out, in] row-major (what Hugging Face and llama2.c store: y = W x), vectors as they are.
 * Three sources:
 *   Hugging Face  safetensors (F32, F16, BF16); q/k rows (and biases) of each head put back in the
 *                 interleaved RoPE order (hf-loader.ts explains the permutation)
 *   llama2.c      the legacy float32 file
 *   a LlamaModel  a model already loaded in tfjs (tests): its [in, out] matrices transposed on the host
 */
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { configProblem, type ModelConfig } from '../config.js';
import { CheckpointError } from '../errors.js';
import { TensorFileReader, DTYPE_BYTES, type StoredDType } from '../file-reader.js';
import { hfTensorName, isHfCheckpoint, openHfTensors, type HfLayerTensor } from '../hf-loader.js';
import { checkpointName, llama2cOffsets, readLlama2cConfig } from '../llama2c-loader.js';
import type { LlamaModel } from '../transformer.js';
import type { ModelSource } from '../weights.js';

/** A tensor of the model: embedding, finalNorm, output (the classifier), or one of a layer's. */
export type WeightName = 'embedding' | 'finalNorm' | 'output' | HfLayerTensor;

export interface RawRows {
  dtype: StoredDType;
  bytes: Buffer;
}

export interface WeightReader {
  config: ModelConfig;
  source: ModelSource;
  /** how the checkpoint stores its matrices */
  stored: StoredDType;
  /**
   * Rows start..start+count-1 of a matrix [out, in] (a vector: elements start..start+count-1). For wq, wk, bq
   * and bk, start and count are whole heads (multiples of headDim). `layer` for a layer's tensors.
   */
  read(name: WeightName, layer: number, start: number, count: number): Promise<RawRows>;
  close(): Promise<void>;
}

/** [out, in] of a tensor (a vector: [n, 1]). */
export function weightShape(c: ModelConfig, name: WeightName): [number, number] {
  const { dim, hiddenDim: hid, heads: H, kvHeads: G, headDim: d, vocabSize: V } = c;
  const shapes: Record<WeightName, [number, number]> = {
    embedding: [V, dim],
    output: [V, dim],
    finalNorm: [dim, 1],
    attnNorm: [dim, 1],
    ffnNorm: [dim, 1],
    wq: [H * d, dim],
    wk: [G * d, dim],
    wv: [G * d, dim],
    bq: [H * d, 1],
    bk: [G * d, 1],
    bv: [G * d, 1],
    wo: [dim, H * d],
    w1: [hid, dim],
    w2: [dim, hid],
    w3: [hid, dim],
  };
  return shapes[name];
}

const ROTARY = new Set<WeightName>(['wq', 'wk', 'bq', 'bk']);

/** Rows of `count` rows of `rowBytes` each, per head of d rows: row j*d/2+i of a head -> row 2i+j (hf-loader.ts). */
function interleaveRows(src: Buffer, rowBytes: number, d: number): Buffer {
  const out = Buffer.alloc(src.length);
  const half = d / 2;
  const heads = src.length / (rowBytes * d);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * d + j * half + i) * rowBytes;
        src.copy(out, (h * d + 2 * i + j) * rowBytes, from, from + rowBytes);
      }
    }
  }
  return out;
}

function checkRange(c: ModelConfig, name: WeightName, start: number, count: number, what: string): void {
  const [rows] = weightShape(c, name);
  if (start < 0 || count < 1 || start + count > rows) throw new RangeError(`${what}: rows ${start}..${start + count - 1} of ${name} outside its ${rows} rows`);
  if (ROTARY.has(name) && (start % c.headDim !== 0 || count % c.headDim !== 0)) throw new RangeError(`${what}: ${name} is read in whole heads of ${c.headDim} rows`);
}

async function hfReader(path: string): Promise<WeightReader> {
  const t = await openHfTensors(path);
  const c = t.config;
  const locate = async (name: WeightName, layer: number) => {
    const key = name === 'embedding' || name === 'finalNorm' || name === 'output' ? hfTensorName(name) : hfTensorName(name, layer);
    const found = await t.find(name === 'output' && c.tiedEmbeddings ? hfTensorName('embedding') : key);
    const [rows, cols] = weightShape(c, name);
    const want = cols === 1 ? [rows] : [rows, cols];
    if (found.tensor.shape.join(',') !== want.join(',')) throw new CheckpointError(found.file, `tensor ${found.tensor.name} has shape [${found.tensor.shape.join(', ')}], config.json implies [${want.join(', ')}]`);
    return found;
  };
  const stored = (await locate('embedding', 0)).tensor.dtype;
  return {
    config: c,
    source: { path: t.dir, format: 'hf', name: basename(t.dir) },
    stored,
    async read(name, layer, start, count) {
      checkRange(c, name, start, count, t.dir);
      const { reader, tensor } = await locate(name, layer);
      const cols = weightShape(c, name)[1];
      const rowBytes = cols * DTYPE_BYTES[tensor.dtype];
      const bytes = await reader.bytes(tensor.offset + start * rowBytes, count * rowBytes, `${tensor.name} rows ${start}..${start + count - 1}`);
      return { dtype: tensor.dtype, bytes: ROTARY.has(name) ? interleaveRows(bytes, rowBytes, c.headDim) : bytes };
    },
    close: () => t.close(),
  };
}

async function llama2cReader(path: string): Promise<WeightReader> {
  const reader = await TensorFileReader.open(path);
  let c: ModelConfig;
  try {
    c = await readLlama2cConfig(reader);
  } catch (err) {
    await reader.close();
    throw err;
  }
  const at = llama2cOffsets(c);
  const base: Partial<Record<WeightName, number>> = { embedding: at.emb, output: c.tiedEmbeddings ? at.emb : at.wcls, finalNorm: at.rmsFinal, attnNorm: at.rmsAtt, ffnNorm: at.rmsFfn, wq: at.wq, wk: at.wk, wv: at.wv, wo: at.wo, w1: at.w1, w2: at.w2, w3: at.w3 };
  const perLayer = new Set<WeightName>(['attnNorm', 'ffnNorm', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3']);
  return {
    config: c,
    source: { path, format: 'llama2c', name: checkpointName(path) },
    stored: 'F32',
    async read(name, layer, start, count) {
      checkRange(c, name, start, count, path);
      const b = base[name];
      if (b === undefined) throw new RangeError(`${path}: a llama2.c checkpoint has no ${name}`);
      const [rows, cols] = weightShape(c, name);
      const offset = b + (perLayer.has(name) ? layer * rows * cols * 4 : 0) + start * cols * 4;
      return { dtype: 'F32', bytes: await reader.bytes(offset, count * cols * 4, `${name}${perLayer.has(name) ? ` of layer ${layer}` : ''}`) };
    },
    close: () => reader.close(),
  };
}

/** Opens a checkpoint (llama2.c .bin or Hugging Face folder) for reading weights. */
export async function openWeightReader(path: string): Promise<WeightReader> {
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file or folder');
  if (isHfCheckpoint(path)) return hfReader(path);
  if (statSync(path).isDirectory()) throw new CheckpointError(path, 'a folder without config.json is not a checkpoint');
  return llama2cReader(path);
}

/** The weights of a model loaded in tfjs (its matrices [in, out] transposed on the host), for tests. */
export function modelWeightReader(model: LlamaModel): WeightReader {
  const c = model.config;
  const problem = configProblem(c);
  if (problem) throw new RangeError(problem);
  const cache = new Map<tf.Tensor, Float32Array>();
  const tensorOf = (name: WeightName, layer: number): tf.Tensor | undefined => {
    const w = model.weights;
    if (name === 'embedding') return w.embedding;
    if (name === 'output') return w.output;
    if (name === 'finalNorm') return w.finalNorm;
    return w.layers[layer][name];
  };
  return {
    config: c,
    source: model.source,
    stored: 'F32',
    async read(name, layer, start, count) {
      checkRange(c, name, start, count, model.source.path);
      const t = tensorOf(name, layer);
      if (!t) throw new RangeError(`${model.source.path}: the model has no ${name} in layer ${layer}`);
      let host = cache.get(t);
      if (!host) {
        const raw = (await t.data()) as Float32Array;
        // embedding is [V, dim] already; matrices are [in, out] (and output [dim, V]): transpose to [out, in]
        if (t.rank === 2 && name !== 'embedding') {
          const [inDim, outDim] = t.shape as [number, number];
          host = new Float32Array(raw.length);
          for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) host[o * inDim + i] = raw[i * outDim + o];
        } else host = raw;
        cache.set(t, host);
      }
      const cols = weightShape(c, name)[1];
      const slice = host.subarray(start * cols, (start + count) * cols);
      return { dtype: 'F32', bytes: Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength) };
    },
    close: async () => cache.clear(),
  };
}
