/** One entry point for models and tokenizers: the file format is recognised from the path. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
  return new LlamaModel(isHfCheckpoint(path) ? await loadHf(path) : await loadLlama2c(path));
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
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'tokenizer.json');
  const tokenizer = file.endsWith('.json') ? await HfTokenizer.load(file) : await Llama2cTokenizer.load(file, model.config.vocabSize);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new CheckpointError(file, `the tokenizer has ${tokenizer.vocabSize} ids, more than the model's vocabulary of ${model.config.vocabSize}`);
  }
  return tokenizer;
}
