/**
 * Loads a llama2.c legacy ("version 0") checkpoint: a header of 7 little-endian int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means the
 * output classifier is stored separately, i.e. untied), then float32 weights in this order:
 * token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, G*d, dim], wv [L, G*d, dim],
 * wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim],
 * rms_final [dim], freq_cis_real [seq_len, d/2], freq_cis_imag [seq_len, d/2], then wcls [vocab, dim] if untied.
 * The stored RoPE table is skipped (RoPE is computed on the fly so positions past seq_len work).
 * The newer versioned llama2.c exports (magic 0x616b3432) are recognised and rejected with a clear error.
 */
import * as tf from '@tensorflow/tfjs-core';
import { basename, dirname } from 'node:path';
import { configProblem, type ModelConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { TensorFileReader } from './file-reader.js';
import { transposedMatrix, type LayerWeights, type LoadedModel, type ModelWeights } from './weights.js';

const HEADER_BYTES = 28;
const LLAMA2C_MAGIC = 0x616b3432;

/** Reads the header and checks that the file size matches it exactly. */
export async function readLlama2cConfig(reader: TensorFileReader): Promise<ModelConfig> {
  const path = reader.path;
  const header = await reader.bytes(0, HEADER_BYTES, 'the 28-byte header');
  if (header.readUInt32LE(0) === LLAMA2C_MAGIC) {
    throw new CheckpointError(path, 'versioned llama2.c export (magic "ak42") is not supported; export with the legacy format (version 0)');
  }
  const h = Array.from({ length: 7 }, (_, i) => header.readInt32LE(i * 4));
  const [dim, hiddenDim, layers, heads, kvHeads, vocabRaw, maxSeqLen] = h;
  const config: ModelConfig = {
    dim,
    hiddenDim,
    layers,
    heads,
    kvHeads,
    headDim: heads > 0 ? dim / heads : 0,
    vocabSize: Math.abs(vocabRaw),
    maxSeqLen,
    ropeTheta: 10000,
    normEps: 1e-5,
    tiedEmbeddings: vocabRaw > 0,
    qkvBias: false,
  };
  const problem = configProblem(config);
  if (problem) throw new CheckpointError(path, `bad header [${h.join(', ')}]: ${problem}`);
  const expected = HEADER_BYTES + 4 * llama2cFloatCount(config);
  if (reader.size !== expected) {
    const verb = reader.size < expected ? 'truncated' : 'too long';
    throw new CheckpointError(path, `${verb}: the header (dim ${dim}, hidden ${hiddenDim}, layers ${layers}, heads ${heads}, kvHeads ${kvHeads}, vocab ${vocabRaw}, seq_len ${maxSeqLen}) implies ${expected} bytes, the file has ${reader.size}`);
  }
  return config;
}

function llama2cFloatCount(c: ModelConfig): number {
  const kv = c.kvHeads * c.headDim;
  const perLayer = 2 * c.dim + c.dim * c.dim * 2 + kv * c.dim * 2 + 3 * c.dim * c.hiddenDim;
  return c.vocabSize * c.dim + c.layers * perLayer + c.dim + c.maxSeqLen * c.headDim + (c.tiedEmbeddings ? 0 : c.vocabSize * c.dim);
}

/** Byte offsets of each stacked tensor of a llama2.c file (the file comment's order), after the header. */
export interface Llama2cOffsets {
  emb: number;
  rmsAtt: number;
  wq: number;
  wk: number;
  wv: number;
  wo: number;
  rmsFfn: number;
  w1: number;
  w2: number;
  w3: number;
  rmsFinal: number;
  freqs: number;
  /** the separate classifier (untied checkpoints) */
  wcls: number;
}

export function llama2cOffsets(c: ModelConfig): Llama2cOffsets {
  const { dim, hiddenDim: hid, layers: L, vocabSize: V } = c;
  const kv = c.kvHeads * c.headDim;
  let offset = HEADER_BYTES;
  const next = (floats: number) => {
    const at = offset;
    offset += floats * 4;
    return at;
  };
  return {
    emb: next(V * dim),
    rmsAtt: next(L * dim),
    wq: next(L * dim * dim),
    wk: next(L * kv * dim),
    wv: next(L * kv * dim),
    wo: next(L * dim * dim),
    rmsFfn: next(L * dim),
    w1: next(L * hid * dim),
    w2: next(L * dim * hid),
    w3: next(L * hid * dim),
    rmsFinal: next(dim),
    freqs: next(c.maxSeqLen * c.headDim),
    wcls: next(c.tiedEmbeddings ? 0 : V * dim),
  };
}

export async function loadLlama2c(path: string): Promise<LoadedModel> {
  const reader = await TensorFileReader.open(path);
  try {
    const c = await readLlama2cConfig(reader);
    const { dim, hiddenDim: hid, layers: L, vocabSize: V } = c;
    const kv = c.kvHeads * c.headDim;
    const at = llama2cOffsets(c);
    const created: tf.Tensor[] = [];
    const track = <T extends tf.Tensor>(t: T): T => {
      created.push(t);
      return t;
    };
    const read = (base: number, layer: number, count: number, what: string) => reader.floats(base + layer * count * 4, count, 'F32', what);
    const matrix = async (base: number, l: number, rows: number, cols: number, what: string) =>
      track(transposedMatrix(await read(base, l, rows * cols, `${what} of layer ${l}`), rows, cols));
    const vector = async (base: number, l: number, n: number, what: string) => track(tf.tensor1d(await read(base, l, n, what)));
    try {
      const embData = await read(at.emb, 0, V * dim, 'token_embedding');
      const embedding = track(tf.tensor2d(embData, [V, dim]));
      const layerWeights: LayerWeights[] = [];
      for (let l = 0; l < L; l++) {
        layerWeights.push({
          attnNorm: await vector(at.rmsAtt, l, dim, `rms_att of layer ${l}`),
          wq: await matrix(at.wq, l, dim, dim, 'wq'),
          wk: await matrix(at.wk, l, kv, dim, 'wk'),
          wv: await matrix(at.wv, l, kv, dim, 'wv'),
          wo: await matrix(at.wo, l, dim, dim, 'wo'),
          ffnNorm: await vector(at.rmsFfn, l, dim, `rms_ffn of layer ${l}`),
          w1: await matrix(at.w1, l, hid, dim, 'w1'),
          w2: await matrix(at.w2, l, dim, hid, 'w2'),
          w3: await matrix(at.w3, l, hid, dim, 'w3'),
        });
      }
      const finalNorm = await vector(at.rmsFinal, 0, dim, 'rms_final');
      const output = track(c.tiedEmbeddings ? transposedMatrix(embData, V, dim) : transposedMatrix(await read(at.wcls, 0, V * dim, 'wcls'), V, dim));
      const weights: ModelWeights = { embedding, layers: layerWeights, finalNorm, output };
      return { config: c, weights, source: { path, format: 'llama2c', name: checkpointName(path) } };
    } catch (err) {
      tf.dispose(created);
      throw err;
    }
  } finally {
    await reader.close();
  }
}

/** 'stories260K' for stories260K.bin; the folder's name for a generic model.bin (ckvlab-9m-16k/model.bin). */
export function checkpointName(path: string): string {
  const name = basename(path).replace(/\.bin$/, '');
  return name === 'model' ? basename(dirname(path)) : name;
}
