/**
 * Loaders: bad checkpoints fail with a CheckpointError naming the file and the problem; a Hugging Face
 * checkpoint written here from stories260K's weights (HF tensor names, q/k rows permuted to rotate_half as
 * convert_llama_weights_to_hf.py does) gives the same logits as the llama2.c checkpoint.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { loadModel } from '../../src/model/load.js';

const STORIES = path.resolve(process.cwd(), '../shared/models/stories260K');
const BIN = path.join(STORIES, 'stories260K.bin');
const [dim, hidden, L, H, G, V, seqLen] = [64, 172, 5, 8, 4, 512, 512];
const d = dim / H;

/** HF's permute for rotate_half: w.view(heads, d/2, 2, cols).transpose(1, 2).reshape(heads*d, cols). */
function permuteForRotateHalf(w: Float32Array, heads: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * d + 2 * i + j) * cols;
        const dst = (h * d + j * (d / 2) + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** Writes config.json + model.safetensors (F32, or F16 / BF16 to exercise widening) from stories260K.bin. */
function writeHfCheckpoint(dir: string): void {
  const all = new Float32Array(readFileSync(BIN).buffer.slice(28));
  let at = 0;
  const take = (n: number) => all.subarray(at, (at += n));
  const emb = take(V * dim);
  const rmsAtt = take(L * dim);
  const wq = take(L * dim * dim);
  const wk = take(L * G * d * dim);
  const wv = take(L * G * d * dim);
  const wo = take(L * dim * dim);
  const rmsFfn = take(L * dim);
  const w1 = take(L * hidden * dim);
  const w2 = take(L * dim * hidden);
  const w3 = take(L * hidden * dim);
  const rmsFinal = take(dim);
  const tensors: [string, number[], Float32Array][] = [['model.embed_tokens.weight', [V, dim], emb]];
  const layer = (arr: Float32Array, l: number, n: number) => arr.subarray(l * n, (l + 1) * n);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      [p + 'input_layernorm.weight', [dim], layer(rmsAtt, l, dim)],
      [p + 'self_attn.q_proj.weight', [dim, dim], permuteForRotateHalf(layer(wq, l, dim * dim), H, dim)],
      [p + 'self_attn.k_proj.weight', [G * d, dim], permuteForRotateHalf(layer(wk, l, G * d * dim), G, dim)],
      [p + 'self_attn.v_proj.weight', [G * d, dim], layer(wv, l, G * d * dim)],
      [p + 'self_attn.o_proj.weight', [dim, dim], layer(wo, l, dim * dim)],
      [p + 'post_attention_layernorm.weight', [dim], layer(rmsFfn, l, dim)],
      [p + 'mlp.gate_proj.weight', [hidden, dim], layer(w1, l, hidden * dim)],
      [p + 'mlp.down_proj.weight', [dim, hidden], layer(w2, l, dim * hidden)],
      [p + 'mlp.up_proj.weight', [hidden, dim], layer(w3, l, hidden * dim)],
    );
  }
  tensors.push(['model.norm.weight', [dim], rmsFinal]);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape, data] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const body = Buffer.concat(tensors.map(([, , data]) => Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([prefix, Buffer.from(json), body]));
  const config = {
    model_type: 'llama',
    hidden_size: dim,
    intermediate_size: hidden,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: G,
    vocab_size: V,
    max_position_embeddings: seqLen,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
}

async function logitsOf(modelPath: string, tokens: number[]): Promise<Float32Array> {
  const model = await loadModel(modelPath);
  const session = model.session();
  const out = await session.forward(tokens);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  session.dispose();
  model.dispose();
  return data;
}

describe('checkpoint loaders', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(path.join(tmpdir(), 'ckv-loaders-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a Hugging Face checkpoint (rotate_half q/k) gives the llama2.c checkpoint\'s logits', async () => {
    const hf = path.join(dir, 'hf');
    rmSync(hf, { recursive: true, force: true });
    mkdirSync(hf);
    writeHfCheckpoint(hf);
    const tokens = [1, 403, 407, 261, 378, 375, 285, 350, 440, 271, 265, 300, 50];
    const a = await logitsOf(BIN, tokens);
    const b = await logitsOf(hf, tokens);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('rejects a truncated llama2.c checkpoint naming the file and the sizes', async () => {
    const bad = path.join(dir, 'truncated.bin');
    writeFileSync(bad, readFileSync(BIN).subarray(0, 500_000));
    await expect(loadModel(bad)).rejects.toThrow(/truncated\.bin: truncated: the header .* implies 1056540 bytes, the file has 500000/);
    await expect(loadModel(bad)).rejects.toMatchObject({ name: 'CheckpointError' });
  });

  it('rejects a llama2.c header that disagrees with the file', async () => {
    const bytes = Buffer.from(readFileSync(BIN));
    bytes.writeInt32LE(7, 12); // n_heads 7 does not divide dim 64
    const bad = path.join(dir, 'heads.bin');
    writeFileSync(bad, bytes);
    await expect(loadModel(bad)).rejects.toThrow(/heads\.bin: bad header .*headDim/);
    const extra = path.join(dir, 'extra.bin');
    writeFileSync(extra, Buffer.concat([readFileSync(BIN), Buffer.alloc(8)]));
    await expect(loadModel(extra)).rejects.toThrow(/extra\.bin: too long/);
  });

  it('rejects HF checkpoints with a missing tensor, a wrong shape or a truncated file', async () => {
    const base = path.join(dir, 'hfbad');
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base);
    writeHfCheckpoint(base);
    const file = path.join(base, 'model.safetensors');
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length - 100));
    await expect(loadModel(base)).rejects.toThrow(/model\.safetensors: truncated: tensor model\.norm\.weight ends at byte/);
    writeFileSync(file, good);
    const config = JSON.parse(readFileSync(path.join(base, 'config.json'), 'utf8'));
    writeFileSync(path.join(base, 'config.json'), JSON.stringify({ ...config, intermediate_size: 100 }));
    await expect(loadModel(base)).rejects.toThrow(/tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[172, 64\], config\.json implies \[100, 64\]/);
    writeFileSync(path.join(base, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
    await expect(loadModel(base)).rejects.toThrow(/missing tensor lm_head\.weight/);
    writeFileSync(path.join(base, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2' }));
    await expect(loadModel(base)).rejects.toThrow(/config\.json: model_type 'gpt2' is not supported/);
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', async () => {
    const src = path.join(dir, 'hf');
    const sharded = path.join(dir, 'sharded');
    rmSync(sharded, { recursive: true, force: true });
    mkdirSync(sharded);
    copyFileSync(path.join(src, 'config.json'), path.join(sharded, 'config.json'));
    copyFileSync(path.join(src, 'model.safetensors'), path.join(sharded, 'part-1.safetensors'));
    const header = JSON.parse(readFileSync(path.join(src, 'model.safetensors')).subarray(8, 8 + Number(readFileSync(path.join(src, 'model.safetensors')).readBigUInt64LE(0))).toString());
    const weightMap = Object.fromEntries(Object.keys(header).filter((k) => k !== '__metadata__').map((k) => [k, 'part-1.safetensors']));
    writeFileSync(path.join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const tokens = [1, 403, 407];
    const a = await logitsOf(BIN, tokens);
    const b = await logitsOf(sharded, tokens);
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(1e-5);
  });
});
