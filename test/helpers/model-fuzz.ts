/**
 * Seeded cases for the model fuzzer (test/cli/fuzz-model.test.ts): the passkey and capture paths given bad
 * model files and folders (llama2.c headers, truncations and flips; a tiny Hugging Face checkpoint with
 * config.json and safetensors lies), tokenizers, passkey formats, texts and contexts (past the model's, past
 * the machine's). Each case is one `clusterkv` argv; files are written under a folder. The same seed gives
 * the same cases.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../src/trace/random.js';
import { CKVLAB_PASSKEY_FORMAT } from '../../src/model/passkey/format.js';

export interface FuzzCase {
  /** kind/what, e.g. 'llama2c/header dim = 0' */
  name: string;
  argv: string[];
}

const models = path.join(__dirname, '..', '..', '..', 'shared', 'models');
export const FUZZ_MODEL = path.join(models, 'stories260K', 'stories260K.bin');
export const FUZZ_TOKENIZER = path.join(models, 'stories260K', 'tok512.bin');

/** Tiny Llama config (vocabulary 512, tok512's) and its tensors in Hugging Face names. */
const TINY = { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: 512 };
const TINY_CONFIG = { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...TINY, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2 };

function tinyTensors(): [string, number[]][] {
  const { hidden_size: D, intermediate_size: F, num_attention_heads: H, num_key_value_heads: G, head_dim: d, vocab_size: V } = TINY;
  const p = 'model.layers.0.';
  return [
    ['model.embed_tokens.weight', [V, D]],
    [`${p}input_layernorm.weight`, [D]],
    [`${p}self_attn.q_proj.weight`, [H * d, D]],
    [`${p}self_attn.k_proj.weight`, [G * d, D]],
    [`${p}self_attn.v_proj.weight`, [G * d, D]],
    [`${p}self_attn.o_proj.weight`, [D, H * d]],
    [`${p}post_attention_layernorm.weight`, [D]],
    [`${p}mlp.gate_proj.weight`, [F, D]],
    [`${p}mlp.down_proj.weight`, [D, F]],
    [`${p}mlp.up_proj.weight`, [F, D]],
    ['model.norm.weight', [D]],
  ];
}

/** A safetensors file from a header object and data bytes (header padded with spaces to 8 bytes). */
function safetensors(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const raw = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(raw.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(padded), true);
  out.set(raw, 8);
  out.fill(0x20, 8 + raw.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

/** The tiny checkpoint's header and data: F32 seeded weights, gains 1. */
function tinyCheckpoint(seed: number): { header: Record<string, unknown>; data: Uint8Array } {
  const rand = mulberry32(seed);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, shape] of tinyTensors()) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, () => (name.endsWith('norm.weight') ? 1 : (rand() - 0.5) * 0.2));
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
    parts.push(values);
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    data.set(new Uint8Array(p.buffer), at);
    at += p.byteLength;
  }
  return { header, data };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Every case, its files written under `dir`; `work` holds the runs' outputs. */
export function modelFuzzCases(dir: string, work: string, seed: number): FuzzCase[] {
  const rand = mulberry32(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  const cases: FuzzCase[] = [];
  let counter = 0;
  const file = (name: string, bytes: Uint8Array | string): string => {
    const p = path.join(dir, `${String(counter++).padStart(4, '0')}-${name}`);
    writeFileSync(p, bytes);
    return p;
  };
  const out = () => path.join(work, String(cases.length));
  const capture = (o: { model?: string; tokenizer?: string; text?: string; context?: string; steps?: string } = {}) => [
    'capture', '--model', o.model ?? FUZZ_MODEL, ...(o.tokenizer === '' ? [] : ['--tokenizer', o.tokenizer ?? FUZZ_TOKENIZER]), '--text', o.text ?? 'moby-dick',
    '--context', o.context ?? '40', '--steps', o.steps ?? '2', '--out', path.join(out(), 'trace.safetensors'), '--backend', 'wasm', '--quiet',
  ];
  const passkey = (o: { model?: string; tokenizer?: string; filler?: string; contexts?: string; format?: string } = {}) => [
    'eval', 'passkey', '--model', o.model ?? FUZZ_MODEL, ...(o.tokenizer === '' ? [] : ['--tokenizer', o.tokenizer ?? FUZZ_TOKENIZER]), '--filler', o.filler ?? 'moby-dick',
    '--contexts', o.contexts ?? '256', '--depths', '0.5', '--keys', '1', '--methods', 'full,quest', '--budgets', '16', ...(o.format ? ['--format', o.format] : []),
    '--out', path.join(out(), 'passkey'), '--backend', 'wasm', '--quiet',
  ];
  /** a model or tokenizer or text input: through both commands */
  const both = (name: string, o: Parameters<typeof capture>[0] & Parameters<typeof passkey>[0]) => {
    cases.push({ name: `${name} (capture)`, argv: capture(o) });
    cases.push({ name: `${name} (eval passkey)`, argv: passkey(o) });
  };

  // llama2.c checkpoints: truncations, header fields, flips
  const bin = new Uint8Array(readFileSync(FUZZ_MODEL));
  for (const at of [0, 3, 27, 28, 1000, bin.length >> 1, bin.length - 4, bin.length - 1]) both(`llama2c/truncated at ${at}`, { model: file('trunc.bin', bin.subarray(0, at)) });
  both('llama2c/one byte too many', { model: file('long.bin', Buffer.concat([bin, Buffer.from([0])])) });
  const fields = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const header = new DataView(bin.buffer, bin.byteOffset, 28);
  fields.forEach((field, i) => {
    const value = header.getInt32(i * 4, true);
    for (const v of [0, -1, 1, 2 ** 31 - 1, value * 2, value + 1]) {
      if (v === value) continue;
      const copy = new Uint8Array(bin);
      new DataView(copy.buffer).setInt32(i * 4, v, true);
      both(`llama2c/header ${field} = ${v}`, { model: file('header.bin', copy) });
    }
  });
  const magic = new Uint8Array(bin);
  new DataView(magic.buffer).setUint32(0, 0x616b3432, true);
  both('llama2c/versioned magic', { model: file('magic.bin', magic) });
  for (let k = 0; k < 4; k++) {
    const copy = new Uint8Array(bin);
    const at = 28 + pick(bin.length - 28);
    copy[at] ^= 0xff;
    copy[at + 1] = 0xff;
    copy[at + 2] = 0xff;
    both(`llama2c/flipped weights at ${at}`, { model: file('flip.bin', copy) });
  }

  // a tiny Hugging Face checkpoint: config.json and safetensors lies, missing files
  const tiny = tinyCheckpoint(seed);
  const hf = (name: string, config: unknown, weights: Uint8Array | null, extra: Record<string, string> = {}): string => {
    const folder = path.join(dir, `${String(counter++).padStart(4, '0')}-hf-${name.replace(/[^a-z0-9]+/gi, '-')}`);
    mkdirSync(folder);
    if (config !== undefined) writeFileSync(path.join(folder, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    if (weights) writeFileSync(path.join(folder, 'model.safetensors'), weights);
    for (const [f, text] of Object.entries(extra)) writeFileSync(path.join(folder, f), text);
    return folder;
  };
  const goodWeights = safetensors(tiny.header, tiny.data);
  both('hf/valid tiny checkpoint', { model: hf('valid', TINY_CONFIG, goodWeights) });
  for (const key of ['model_type', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size']) {
    const c = clone(TINY_CONFIG) as Record<string, unknown>;
    delete c[key];
    both(`hf/config without ${key}`, { model: hf(`no-${key}`, c, goodWeights) });
  }
  for (const [key, value] of [['hidden_size', '16'], ['num_hidden_layers', 0], ['num_attention_heads', 3], ['num_key_value_heads', 4], ['head_dim', 4], ['vocab_size', 0], ['vocab_size', 256], ['model_type', 'gpt2'], ['rope_scaling', { rope_type: 'yarn', factor: 4 }], ['max_position_embeddings', 16], ['hidden_size', 2 ** 40], ['intermediate_size', -32]] as [string, unknown][]) {
    both(`hf/config ${key} = ${JSON.stringify(value)}`, { model: hf(`${key}-${JSON.stringify(value)}`, { ...TINY_CONFIG, [key]: value }, goodWeights) });
  }
  for (const [name, text] of [['not json', '{"model_type": "llama",'], ['empty', ''], ['an array', '[1, 2]'], ['null', 'null']]) both(`hf/config.json ${name}`, { model: hf(name, text, goodWeights) });
  both('hf/no model.safetensors', { model: hf('no-weights', TINY_CONFIG, null) });
  both('hf/index naming a missing shard', { model: hf('index', TINY_CONFIG, null, { 'model.safetensors.index.json': JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'shard-1.safetensors' } }) }) });
  both('hf/index without weight_map', { model: hf('index-bad', TINY_CONFIG, null, { 'model.safetensors.index.json': '{}' }) });
  for (const at of [0, 7, 8, 40, 8 + Number(new DataView(goodWeights.buffer).getBigUint64(0, true)), goodWeights.length - 4]) {
    both(`hf/safetensors truncated at ${at}`, { model: hf(`trunc-${at}`, TINY_CONFIG, goodWeights.subarray(0, at)) });
  }
  both('hf/safetensors header length 2^63', { model: hf('len-huge', TINY_CONFIG, safetensors(tiny.header, tiny.data, 2n ** 63n)) });
  both('hf/safetensors header length past the file', { model: hf('len-past', TINY_CONFIG, safetensors(tiny.header, tiny.data, BigInt(goodWeights.length))) });
  const lie = (what: string, edit: (h: Record<string, Record<string, unknown>>) => void) => {
    const h = clone(tiny.header) as Record<string, Record<string, unknown>>;
    edit(h);
    both(`hf/safetensors ${what}`, { model: hf(what, TINY_CONFIG, safetensors(h, tiny.data)) });
  };
  const names = tinyTensors().map(([n]) => n);
  lie('shape lie', (h) => (h[names[2]].shape = [16, 8]));
  lie('shape of zeros', (h) => (h[names[0]].shape = [0, 16]));
  lie('dtype I32', (h) => (h[names[1]].dtype = 'I32'));
  lie('dtype F16 (half the bytes)', (h) => (h[names[3]].dtype = 'F16'));
  lie('dtype unknown', (h) => (h[names[3]].dtype = 'Q4'));
  lie('offsets past the data', (h) => (h[names[4]].data_offsets = [10 ** 9, 10 ** 9 + 128 * 4]));
  lie('offsets reversed', (h) => (h[names[4]].data_offsets = [512, 0]));
  lie('offsets negative', (h) => (h[names[4]].data_offsets = [-64, 448]));
  lie('missing tensor', (h) => delete h[names[5]]);
  lie('tensor entry not an object', (h) => (h[names[6]] = 'x' as unknown as Record<string, unknown>));
  const nan = new Uint8Array(tiny.data);
  new DataView(nan.buffer).setFloat32(4 * pick(1000), Number.NaN, true);
  both('hf/safetensors a NaN weight', { model: hf('nan', TINY_CONFIG, safetensors(tiny.header, nan)) });
  both('hf/valid tiny checkpoint without --tokenizer (no tokenizer.json)', { model: hf('no-tok', TINY_CONFIG, goodWeights), tokenizer: '' });
  both('hf/tokenizer.json not a tokenizer', { model: hf('tok-bad', TINY_CONFIG, goodWeights, { 'tokenizer.json': '{"version": "1.0"}' }), tokenizer: '' });
  both('hf/tokenizer.json not json', { model: hf('tok-text', TINY_CONFIG, goodWeights, { 'tokenizer.json': 'not json' }), tokenizer: '' });

  // things that are no model: a folder, a trace-like safetensors, the tokenizer, an empty file, a missing path
  both('model/an empty folder', { model: hf('empty-folder', undefined, null) });
  both('model/an empty file', { model: file('empty.bin', '') });
  both('model/the tokenizer', { model: FUZZ_TOKENIZER });
  both('model/a missing path', { model: path.join(dir, 'missing.bin') });
  both('model/a text file', { model: file('notes.txt', 'not a model\n') });

  // tokenizers: truncations, flips, piece lengths, the model itself, folders, JSON
  const tok = new Uint8Array(readFileSync(FUZZ_TOKENIZER));
  for (const at of [0, 3, 4, 100, tok.length - 1]) both(`tokenizer/truncated at ${at}`, { tokenizer: file('tok.bin', tok.subarray(0, at)) });
  both('tokenizer/bytes after the last piece', { tokenizer: file('tok-long.bin', Buffer.concat([tok, Buffer.from([1, 2, 3])])) });
  for (const v of [-1, 2 ** 31 - 1, 0]) {
    const copy = new Uint8Array(tok);
    new DataView(copy.buffer).setInt32(4 + 4, v, true); // piece 0's length
    both(`tokenizer/piece 0 length ${v}`, { tokenizer: file('tok-len.bin', copy) });
  }
  for (let k = 0; k < 3; k++) {
    const copy = new Uint8Array(tok);
    const at = 4 + pick(tok.length - 4);
    copy[at] ^= 0x5a;
    both(`tokenizer/flipped byte ${at}`, { tokenizer: file('tok-flip.bin', copy) });
  }
  both('tokenizer/the model file', { tokenizer: FUZZ_MODEL });
  both('tokenizer/an empty folder', { tokenizer: hf('tok-folder', undefined, null) });
  both('tokenizer/a tokenizer.json of {}', { tokenizer: file('tokenizer.json', '{}') });
  both('tokenizer/a missing path', { tokenizer: path.join(dir, 'missing-tok.bin') });

  // texts and fillers: empty, binary, one word, a folder, missing, too short for the context
  const texts: [string, string][] = [
    ['empty', file('empty.txt', '')],
    ['binary', file('binary.txt', Buffer.from(Array.from({ length: 4096 }, () => pick(256))))],
    ['one word', file('word.txt', 'whale')],
    ['a folder', dir],
    ['missing', path.join(dir, 'missing.txt')],
    ['the model file', FUZZ_MODEL],
  ];
  for (const [name, p] of texts) {
    cases.push({ name: `text/${name} (capture)`, argv: capture({ text: p }) });
    cases.push({ name: `filler/${name} (eval passkey)`, argv: passkey({ filler: p }) });
  }

  // passkey formats
  const format = (name: string, value: unknown) => cases.push({ name: `format/${name}`, argv: passkey({ format: file('format.json', typeof value === 'string' ? value : JSON.stringify(value)) }) });
  for (const key of Object.keys(CKVLAB_PASSKEY_FORMAT)) {
    const f = clone(CKVLAB_PASSKEY_FORMAT) as unknown as Record<string, unknown>;
    delete f[key];
    format(`without ${key}`, f);
    format(`${key} a number`, { ...CKVLAB_PASSKEY_FORMAT, [key]: 7 });
  }
  format('needle without the placeholder', { ...CKVLAB_PASSKEY_FORMAT, needle: ' The pass key is here. ' });
  format('answer without the placeholder', { ...CKVLAB_PASSKEY_FORMAT, answer: ' nothing.' });
  for (const d of [0, 16, 1.5, -3]) format(`keyDigits ${d}`, { ...CKVLAB_PASSKEY_FORMAT, keyDigits: d });
  format('an extra field', { ...CKVLAB_PASSKEY_FORMAT, extra: 1 });
  format('empty placeholder', { ...CKVLAB_PASSKEY_FORMAT, placeholder: '' });
  format('answer merging with the question', { ...CKVLAB_PASSKEY_FORMAT, question: '\nWhat is the pass key? The pass key is ', answer: 'KEY.' });
  format('intro longer than the document', { ...CKVLAB_PASSKEY_FORMAT, intro: 'filler '.repeat(200) });
  format('not json', '{"intro": ');
  format('an array', '[]');
  format("the model's train.json", readFileSync(path.join(models, 'ckvlab-passkey-9m', 'train.json'), 'utf8'));
  cases.push({ name: 'format/a missing file', argv: passkey({ format: path.join(dir, 'missing-format.json') }) });

  // contexts: tiny, not numbers, past the model's (512: a warning, it runs), past the machine's memory
  for (const c of ['0', '-5', 'abc', '2.5', '', '1', '8', '600', '90000000000']) cases.push({ name: `context/--context ${JSON.stringify(c)} (capture)`, argv: capture({ context: c }) });
  for (const s of ['0', '-1', 'x', '480', '90000000000']) cases.push({ name: `context/--steps ${JSON.stringify(s)} (capture)`, argv: capture({ steps: s }) });
  for (const c of ['0', 'abc', '1', '20', '256,abc', '600', '90000000000', '256,256']) cases.push({ name: `context/--contexts ${JSON.stringify(c)} (eval passkey)`, argv: passkey({ contexts: c }) });
  cases.push({ name: 'context/a text shorter than --context (capture)', argv: capture({ text: texts[2][1], context: '200' }) });
  return cases;
}

