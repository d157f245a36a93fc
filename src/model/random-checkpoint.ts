/**
 * Hugging Face checkpoints of real model shapes with seeded random weights, so that a model of 0.5B-8B
 * parameters can be run, sized and timed without a download: config.json (the shape's own fields), the
 * weights as safetensors (F16, BF16 or F32; sharded with model.safetensors.index.json past `shardBytes`), and
 * a byte-level tokenizer.json (GPT-2's byte alphabet, no merges: one token per byte, plus BOS and EOS).
 * The numbers are not a trained model's: matrices uniform with variance 1 / in (activations keep their scale
 * through the layers, as device-weights.ts's random weights), gains 1, biases uniform in [-0.1, 0.1), the
 * embedding uniform in [-1, 1); every tensor from its own mulberry32 stream (seeds.ts's mixSeed).
 * Shapes: Qwen2.5-0.5B (q/k/v biases, tied head), Llama-3.2-1B (tied head; its llama3 RoPE scaling left
 * out: plain RoPE, theta 500000), Llama-3-8B; `layers` and `vocab` shrink one for tests.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { float32ToFloat16Bits } from '../trace/float16.js';
import { mulberry32 } from '../trace/random.js';
import { mixSeed } from '../trace/seeds.js';

/** The config.json fields that fix a shape. */
export interface HfShape {
  model_type: 'llama' | 'qwen2' | 'mistral';
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
}

export const RANDOM_CHECKPOINT_SHAPES: Readonly<Record<string, HfShape>> = {
  'qwen2.5-0.5b': { model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true },
  'llama-3.2-1b': { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true },
  'llama-3-8b': { model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: false },
};

export type CheckpointDType = 'F16' | 'BF16' | 'F32';

export interface RandomCheckpointOptions {
  /** a name of RANDOM_CHECKPOINT_SHAPES */
  shape: string;
  /** fewer layers than the shape's (tests) */
  layers?: number;
  /** a smaller vocabulary (at least the tokenizer's 258 ids) */
  vocab?: number;
  dtype?: CheckpointDType;
  seed?: number;
  /** bytes per safetensors shard at most (default 4 GB) */
  shardBytes?: number;
  /** bytes written so far, of all */
  progress?: (done: number, total: number) => void;
}

export interface RandomCheckpoint {
  dir: string;
  config: Record<string, unknown>;
  files: string[];
  /** bytes of the weights */
  bytes: number;
  parameters: number;
}

const BYTES: Record<CheckpointDType, number> = { F16: 2, BF16: 2, F32: 4 };
const TOKENIZER_IDS = 258;

interface TensorPlan {
  name: string;
  shape: number[];
  /** uniform in [offset - scale, offset + scale) */
  scale: number;
  offset: number;
}

function tensorPlans(s: HfShape): TensorPlan[] {
  const d = s.head_dim ?? s.hidden_size / s.num_attention_heads;
  const [D, F, H, G, V] = [s.hidden_size, s.intermediate_size, s.num_attention_heads, s.num_key_value_heads, s.vocab_size];
  const matrix = (name: string, rows: number, cols: number): TensorPlan => ({ name, shape: [rows, cols], scale: Math.sqrt(3 / cols), offset: 0 });
  const gain = (name: string): TensorPlan => ({ name, shape: [D], scale: 0, offset: 1 });
  const bias = (name: string, n: number): TensorPlan => ({ name, shape: [n], scale: 0.1, offset: 0 });
  const out: TensorPlan[] = [{ name: 'model.embed_tokens.weight', shape: [V, D], scale: 1, offset: 0 }];
  for (let l = 0; l < s.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(gain(`${p}input_layernorm.weight`), matrix(`${p}self_attn.q_proj.weight`, H * d, D), matrix(`${p}self_attn.k_proj.weight`, G * d, D), matrix(`${p}self_attn.v_proj.weight`, G * d, D));
    if (s.model_type === 'qwen2') out.push(bias(`${p}self_attn.q_proj.bias`, H * d), bias(`${p}self_attn.k_proj.bias`, G * d), bias(`${p}self_attn.v_proj.bias`, G * d));
    out.push(matrix(`${p}self_attn.o_proj.weight`, D, H * d), gain(`${p}post_attention_layernorm.weight`));
    out.push(matrix(`${p}mlp.gate_proj.weight`, F, D), matrix(`${p}mlp.up_proj.weight`, F, D), matrix(`${p}mlp.down_proj.weight`, D, F));
  }
  out.push(gain('model.norm.weight'));
  if (!s.tie_word_embeddings) out.push(matrix('lm_head.weight', V, D));
  return out;
}

/** 65536 levels of uniform [offset - scale, offset + scale) as stored bits (a stream of u16 picks one each). */
function levels(scale: number, offset: number, dtype: Exclude<CheckpointDType, 'F32'>): Uint16Array {
  const out = new Uint16Array(65536);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < 65536; i++) {
    f[0] = offset + scale * ((2 * (i + 0.5)) / 65536 - 1);
    out[i] = dtype === 'F16' ? float32ToFloat16Bits(f[0]) : (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** GPT-2's byte -> printable character map (byte-level BPE vocabularies spell bytes with it). */
function byteAlphabet(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const chars = new Array<string>(256);
  for (const b of bs) chars[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (chars[b] === undefined) chars[b] = String.fromCodePoint(256 + n++);
  return chars;
}

/** A byte-level BPE tokenizer.json: ids 0..255 the bytes, 256 BOS, 257 EOS (BOS prepended on encode). */
export function byteTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((c, b) => (vocab[c] = b));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const bos = { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(256, '<|begin_of_text|>'), special(257, '<|end_of_text|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'TemplateProcessing', single: [bos, { Sequence: { id: 'A', type_id: 0 } }], pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [256], tokens: ['<|begin_of_text|>'] } } },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

/** Writes the checkpoint folder `dir` (created; existing files of the same names are replaced). */
export function writeRandomCheckpoint(dir: string, opts: RandomCheckpointOptions): RandomCheckpoint {
  const base = RANDOM_CHECKPOINT_SHAPES[opts.shape];
  if (!base) throw new RangeError(`random checkpoint: unknown shape '${opts.shape}' (expected ${Object.keys(RANDOM_CHECKPOINT_SHAPES).join(', ')})`);
  const layers = opts.layers ?? base.num_hidden_layers;
  const vocab = opts.vocab ?? base.vocab_size;
  if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`random checkpoint: layers must be a positive integer, got ${layers}`);
  if (!Number.isInteger(vocab) || vocab < TOKENIZER_IDS) throw new RangeError(`random checkpoint: vocab must be an integer >= ${TOKENIZER_IDS} (the tokenizer's ids), got ${vocab}`);
  const dtype = opts.dtype ?? 'F16';
  const seed = opts.seed ?? 0;
  const shape: HfShape = { ...base, num_hidden_layers: layers, vocab_size: vocab };
  const plans = tensorPlans(shape);
  const eb = BYTES[dtype];
  const sizeOf = (t: TensorPlan) => t.shape.reduce((a, b) => a * b, 1) * eb;
  // shards: consecutive tensors up to shardBytes each
  const limit = opts.shardBytes ?? 4e9;
  const shards: TensorPlan[][] = [[]];
  let used = 0;
  for (const t of plans) {
    if (used > 0 && used + sizeOf(t) > limit) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1].push(t);
    used += sizeOf(t);
  }
  const names = shards.length === 1 ? ['model.safetensors'] : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  mkdirSync(dir, { recursive: true });
  const total = plans.reduce((a, t) => a + sizeOf(t), 0);
  let done = 0;
  const weightMap: Record<string, string> = {};
  shards.forEach((tensors, s) => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: `clusterkv-lab random checkpoint (seed ${seed})` } };
    let offset = 0;
    for (const t of tensors) {
      header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + sizeOf(t)] };
      offset += sizeOf(t);
      weightMap[t.name] = names[s];
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const fd = openSync(path.join(dir, names[s]), 'w');
    try {
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
      writeSync(fd, prefix);
      writeSync(fd, json);
      for (const t of tensors) {
        const index = plans.indexOf(t);
        const next = mulberry32(mixSeed(seed, index));
        const count = sizeOf(t) / eb;
        const table = dtype === 'F32' ? undefined : levels(t.scale, t.offset, dtype);
        const block = 1 << 20;
        for (let i0 = 0; i0 < count; i0 += block) {
          const n = Math.min(block, count - i0);
          let bytes: Uint8Array;
          if (table) {
            const out = new Uint16Array(n);
            for (let i = 0; i < n; i++) out[i] = table[(next() * 65536) | 0];
            bytes = new Uint8Array(out.buffer);
          } else {
            const out = new Float32Array(n);
            for (let i = 0; i < n; i++) out[i] = t.offset + t.scale * (2 * next() - 1);
            bytes = new Uint8Array(out.buffer);
          }
          writeSync(fd, bytes);
          opts.progress?.((done += bytes.length), total);
        }
      }
    } finally {
      closeSync(fd);
    }
  });
  if (shards.length > 1) writeFileSync(path.join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1)}\n`);
  const config = {
    architectures: [shape.model_type === 'qwen2' ? 'Qwen2ForCausalLM' : shape.model_type === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'],
    ...shape,
    hidden_act: 'silu',
    bos_token_id: 256,
    eos_token_id: 257,
    torch_dtype: dtype === 'F16' ? 'float16' : dtype === 'BF16' ? 'bfloat16' : 'float32',
    clusterkv_random: { shape: opts.shape, seed, note: 'seeded random weights of this shape (src/model/random-checkpoint.ts), not a trained model' },
  };
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 1)}\n`);
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify({ bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>', model_max_length: shape.max_position_embeddings }, null, 1)}\n`);
  const parameters = total / eb;
  return { dir, config, files: names, bytes: total, parameters };
}
