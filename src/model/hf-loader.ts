/**
 * Loads a Hugging Face Llama-family checkpoint (model_type llama, mistral or qwen2): a folder with
 * config.json and model.safetensors, or shards listed in model.safetensors.index.json. Tensors (F32, F16 or
 * BF16) are read one at a time at their offsets and widened to float32.
 *
 * RoPE convention: Hugging Face applies RoPE with rotate_half, pairing features (i, i + d/2) of a head, where
 * llama2.c (and this runtime) pair (2i, 2i+1). HF's convert_llama_weights_to_hf.py permutes the rows of
 * wq/wk of each head (row 2i+j moves to j*d/2+i) so that rotate_half on the permuted projection computes
 * the same attention. We undo that permutation at load (row j*d/2+i of a head goes back to 2i+j, biases
 * too), then use interleaved RoPE. For checkpoints trained natively in the rotate_half convention this is
 * equally exact: the same permutation applied to q and k leaves every q.k (hence attention) unchanged.
 * Post-RoPE keys and queries of such models are therefore reported in the interleaved feature order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { basename, dirname, join } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { configProblem, type ModelConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { TensorFileReader } from './file-reader.js';
import { readJsonObject } from './json-file.js';
import { readSafetensorsHeader, type CheckpointTensor } from './safetensors-header.js';
import { transposedMatrix, type LayerWeights, type LoadedModel } from './weights.js';

const SUPPORTED_TYPES = ['llama', 'mistral', 'qwen2'];

/** The folder of an HF checkpoint given the folder, its config.json or a .safetensors file in it. */
export function hfCheckpointDir(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return path;
  return dirname(path);
}

export function isHfCheckpoint(path: string): boolean {
  const dir = hfCheckpointDir(path);
  return /\.(json|safetensors)$/.test(path) || (existsSync(path) && statSync(path).isDirectory() && existsSync(join(dir, 'config.json')));
}

/** config.json -> ModelConfig, rejecting what this runtime does not implement. */
export function hfConfig(raw: Record<string, unknown>, file: string): ModelConfig {
  const modelType = String(raw.model_type ?? '');
  if (!SUPPORTED_TYPES.includes(modelType)) throw new CheckpointError(file, `model_type '${modelType}' is not supported (expected one of ${SUPPORTED_TYPES.join(', ')})`);
  const num = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number') throw new CheckpointError(file, `field ${key} is missing or not a number`);
    return v;
  };
  const scaling = raw.rope_scaling as { rope_type?: string; type?: string } | null | undefined;
  if (scaling && (scaling.rope_type ?? scaling.type) !== 'default') {
    throw new CheckpointError(file, `rope_scaling ${JSON.stringify(scaling)} is not supported (plain RoPE only)`);
  }
  const heads = num('num_attention_heads');
  const dim = num('hidden_size');
  const config: ModelConfig = {
    dim,
    hiddenDim: num('intermediate_size'),
    layers: num('num_hidden_layers'),
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', dim / heads),
    vocabSize: num('vocab_size'),
    maxSeqLen: num('max_position_embeddings', 2048),
    ropeTheta: num('rope_theta', 10000),
    normEps: num('rms_norm_eps', 1e-6),
    tiedEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: modelType === 'qwen2' || raw.attention_bias === true,
  };
  const problem = configProblem(config);
  if (problem) throw new CheckpointError(file, problem);
  return config;
}

/** Undoes HF's rotate_half permutation of q/k rows: per head, row j*d/2+i -> 2i+j. data: [heads*d, cols]. */
export function interleaveRotaryRows(data: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * headDim + j * half + i) * cols;
        const to = (h * headDim + 2 * i + j) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** The tensors of a layer, by the name src/model/weights.ts gives them. */
export type HfLayerTensor = 'attnNorm' | 'wq' | 'wk' | 'wv' | 'bq' | 'bk' | 'bv' | 'wo' | 'ffnNorm' | 'w1' | 'w2' | 'w3';

const HF_LAYER_NAMES: Record<HfLayerTensor, string> = {
  attnNorm: 'input_layernorm.weight',
  wq: 'self_attn.q_proj.weight',
  wk: 'self_attn.k_proj.weight',
  wv: 'self_attn.v_proj.weight',
  bq: 'self_attn.q_proj.bias',
  bk: 'self_attn.k_proj.bias',
  bv: 'self_attn.v_proj.bias',
  wo: 'self_attn.o_proj.weight',
  ffnNorm: 'post_attention_layernorm.weight',
  w1: 'mlp.gate_proj.weight',
  w2: 'mlp.down_proj.weight',
  w3: 'mlp.up_proj.weight',
};

/** The safetensors name of a model tensor (embedding, finalNorm, output) or of a layer's (with its layer). */
export function hfTensorName(kind: 'embedding' | 'finalNorm' | 'output'): string;
export function hfTensorName(kind: HfLayerTensor, layer: number): string;
export function hfTensorName(kind: 'embedding' | 'finalNorm' | 'output' | HfLayerTensor, layer?: number): string {
  if (kind === 'embedding') return 'model.embed_tokens.weight';
  if (kind === 'finalNorm') return 'model.norm.weight';
  if (kind === 'output') return 'lm_head.weight';
  return `model.layers.${layer}.${HF_LAYER_NAMES[kind]}`;
}

/** An HF checkpoint's tensors by name, each read where it lies (a shard of the index, or model.safetensors). */
export interface HfTensors {
  dir: string;
  config: ModelConfig;
  /** the tensor's file, header entry and reader (opened on first use); a missing tensor is a CheckpointError */
  find(name: string): Promise<{ file: string; reader: TensorFileReader; tensor: CheckpointTensor }>;
  close(): Promise<void>;
}

/** Opens an HF checkpoint folder: config.json checked, the shard index read; tensors are found on demand. */
export async function openHfTensors(path: string): Promise<HfTensors> {
  const dir = hfCheckpointDir(path);
  const configFile = join(dir, 'config.json');
  const config = hfConfig(await readJsonObject(configFile), configFile);
  // tensor name -> shard file
  const indexFile = join(dir, 'model.safetensors.index.json');
  const shardOf = new Map<string, string>();
  if (existsSync(indexFile)) {
    const index = await readJsonObject(indexFile);
    const map = index.weight_map as Record<string, string> | undefined;
    if (!map || typeof map !== 'object') throw new CheckpointError(indexFile, 'no weight_map');
    for (const [name, shard] of Object.entries(map)) shardOf.set(name, join(dir, shard));
  } else {
    const single = join(dir, 'model.safetensors');
    if (!existsSync(single)) throw new CheckpointError(dir, 'neither model.safetensors nor model.safetensors.index.json found');
    shardOf.set('*', single);
  }
  const readers = new Map<string, { reader: TensorFileReader; tensors: Map<string, CheckpointTensor> }>();
  return {
    dir,
    config,
    async find(name) {
      const file = shardOf.get(name) ?? shardOf.get('*');
      if (!file) throw new CheckpointError(indexFile, `missing tensor ${name} (not in weight_map)`);
      let shard = readers.get(file);
      if (!shard) {
        const reader = await TensorFileReader.open(file);
        shard = { reader, tensors: await readSafetensorsHeader(reader) };
        readers.set(file, shard);
      }
      const tensor = shard.tensors.get(name);
      if (!tensor) throw new CheckpointError(file, `missing tensor ${name}`);
      return { file, reader: shard.reader, tensor };
    },
    async close() {
      for (const { reader } of readers.values()) await reader.close();
    },
  };
}

export async function loadHf(path: string): Promise<LoadedModel> {
  const checkpoint = await openHfTensors(path);
  const { dir, config: c } = checkpoint;
  const created: tf.Tensor[] = [];
  const track = <T extends tf.Tensor>(t: T): T => {
    created.push(t);
    return t;
  };
  const tensor = async (name: string, shape: number[]): Promise<Float32Array> => {
    const { file, reader, tensor: t } = await checkpoint.find(name);
    if (t.shape.join(',') !== shape.join(',')) throw new CheckpointError(file, `tensor ${name} has shape [${t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
    return reader.floats(t.offset, shape.reduce((a, b) => a * b, 1), t.dtype, name);
  };
  try {
    const { dim, hiddenDim: hid, heads: H, kvHeads: G, headDim: d, vocabSize: V } = c;
    const embData = await tensor(hfTensorName('embedding'), [V, dim]);
    const embedding = track(tf.tensor2d(embData, [V, dim]));
    const layers: LayerWeights[] = [];
    for (let l = 0; l < c.layers; l++) {
      const name = (kind: HfLayerTensor) => hfTensorName(kind, l);
      const vec = async (kind: HfLayerTensor, n: number) => track(tf.tensor1d(await tensor(name(kind), [n])));
      const mat = async (kind: HfLayerTensor, rows: number, cols: number) => track(transposedMatrix(await tensor(name(kind), [rows, cols]), rows, cols));
      const rotary = async (w: 'wq' | 'wk', b: 'bq' | 'bk', heads: number) => {
        const rows = interleaveRotaryRows(await tensor(name(w), [heads * d, dim]), heads, d, dim);
        const bias = c.qkvBias ? track(tf.tensor1d(interleaveRotaryRows(await tensor(name(b), [heads * d]), heads, d, 1))) : undefined;
        return { w: track(transposedMatrix(rows, heads * d, dim)), b: bias };
      };
      const q = await rotary('wq', 'bq', H);
      const k = await rotary('wk', 'bk', G);
      layers.push({
        attnNorm: await vec('attnNorm', dim),
        wq: q.w,
        bq: q.b,
        wk: k.w,
        bk: k.b,
        wv: await mat('wv', G * d, dim),
        bv: c.qkvBias ? await vec('bv', G * d) : undefined,
        wo: await mat('wo', dim, H * d),
        ffnNorm: await vec('ffnNorm', dim),
        w1: await mat('w1', hid, dim),
        w2: await mat('w2', dim, hid),
        w3: await mat('w3', hid, dim),
      });
    }
    const finalNorm = track(tf.tensor1d(await tensor(hfTensorName('finalNorm'), [dim])));
    const output = track(c.tiedEmbeddings ? transposedMatrix(embData, V, dim) : transposedMatrix(await tensor(hfTensorName('output'), [V, dim]), V, dim));
    return { config: c, weights: { embedding, layers, finalNorm, output }, source: { path: dir, format: 'hf', name: basename(dir) } };
  } catch (err) {
    tf.dispose(created);
    throw err;
  } finally {
    await checkpoint.close();
  }
}
