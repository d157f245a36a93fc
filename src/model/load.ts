/** One entry point for models and tokenizers: the file format is recognised from the path. */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TraceReader } from '../trace/reader.js';
import { CheckpointError } from './errors.js';
import { hfCheckpointDir, isHfCheckpoint, loadHf } from './hf-loader.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { loadLlama2c } from './llama2c-loader.js';
import { Llama2cTokenizer } from './llama2c-tokenizer.js';
import type { TextTokenizer } from './tokenizer.js';
import { LlamaModel } from './transformer.js';

/**
 * A llama2.c checkpoint (.bin) or a Hugging Face checkpoint (a folder with config.json, or its config.json
 * or .safetensors file).
 */
export async function loadModel(path: string): Promise<LlamaModel> {
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file or folder');
  const folder = statSync(path).isDirectory();
  if (folder && !existsSync(join(path, 'config.json'))) {
    throw new CheckpointError(path, 'a folder without config.json, so not a Hugging Face checkpoint (a llama2.c checkpoint is one .bin file)');
  }
  if (!folder && path.endsWith('.safetensors') && (await isTrace(path))) {
    throw new CheckpointError(path, 'a clusterkv trace, not a model checkpoint (give the llama2.c .bin or Hugging Face folder of a model)');
  }
  if (!folder && isHfCheckpoint(path) && !existsSync(join(hfCheckpointDir(path), 'config.json'))) {
    throw new CheckpointError(path, `no config.json beside it in ${hfCheckpointDir(path)}, so not a Hugging Face checkpoint`);
  }
  return new LlamaModel(isHfCheckpoint(path) ? await loadHf(path) : await loadLlama2c(path));
}

/** Whether a .safetensors file is a clusterkv trace (its manifest reads). */
async function isTrace(path: string): Promise<boolean> {
  try {
    await (await TraceReader.open(path)).close();
    return true;
  } catch {
    return false;
  }
}

/** A llama2.c tokenizer.bin; a file that does not parse as one says so (a model .bin or a trace, say). */
async function loadLlama2cTokenizer(file: string, vocabSize: number): Promise<TextTokenizer> {
  try {
    return await Llama2cTokenizer.load(file, vocabSize);
  } catch (err) {
    if (!(err instanceof CheckpointError) || !err.message.startsWith(`${file}: `) || /cannot read tokenizer/.test(err.message)) throw err;
    throw new CheckpointError(file, `not a llama2.c tokenizer.bin (${err.message.slice(file.length + 2)})`);
  }
}

/**
 * A tokenizer.json (Hugging Face) or a llama2.c tokenizer.bin. Without a path, an HF checkpoint's own
 * tokenizer.json is used.
 */
export async function loadTokenizer(path: string | undefined, model: Pick<LlamaModel, 'config' | 'source'>): Promise<TextTokenizer> {
  let file = path;
  if (file === undefined) {
    if (model.source.format !== 'hf') throw new CheckpointError(model.source.path, 'a llama2.c checkpoint carries no tokenizer: pass its tokenizer.bin');
    file = join(hfCheckpointDir(model.source.path), 'tokenizer.json');
  }
  if (existsSync(file) && statSync(file).isDirectory()) {
    if (!existsSync(join(file, 'tokenizer.json'))) throw new CheckpointError(file, 'a folder without tokenizer.json (give a tokenizer.json or a llama2.c tokenizer.bin)');
    file = join(file, 'tokenizer.json');
  }
  if (path === undefined && !existsSync(file)) throw new CheckpointError(model.source.path, `the checkpoint has no tokenizer.json (${file}): pass the tokenizer`);
  if (existsSync(file) && resolve(file) === resolve(model.source.path)) throw new CheckpointError(file, 'is the model checkpoint, not a tokenizer');
  const tokenizer = file.endsWith('.json') ? await HfTokenizer.load(file) : await loadLlama2cTokenizer(file, model.config.vocabSize);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new CheckpointError(file, `the tokenizer has ${tokenizer.vocabSize} ids, more than the model's vocabulary of ${model.config.vocabSize}`);
  }
  return tokenizer;
}
