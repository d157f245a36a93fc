/** The model and tokenizer of --model and --tokenizer, loaded so that an error names the option. */
import os from 'node:os';
import { formatBytes } from '../model/e2e/footprint.js';
import { loadModel, loadTokenizer } from '../model/load.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import type { LlamaModel } from '../model/transformer.js';
import { UserError } from './errors.js';

/** Prefixes the one-line error of a bad model or tokenizer file with the option that named it. */
async function namingOption<T>(option: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof Error && (err.name === 'CheckpointError' || err.name === 'ModelError')) err.message = `${option} ${err.message}`;
    throw err;
  }
}

export function loadModelOption(path: string): Promise<LlamaModel> {
  return namingOption('--model', () => loadModel(path));
}

/** --tokenizer, or without it the checkpoint's own (then a problem is the --model's). */
export function loadTokenizerOption(path: string | undefined, model: LlamaModel): Promise<TextTokenizer> {
  return namingOption(path === undefined ? '--model' : '--tokenizer', () => loadTokenizer(path, model));
}

/**
 * The warning of a run past the model's context (its seq_len or max_position_embeddings): it runs (RoPE
 * extrapolates), but positions beyond it were never trained. `what` names the options that make it.
 */
export function pastContextWarning(model: LlamaModel, positions: number, what: string): string | undefined {
  const limit = model.config.maxSeqLen;
  if (positions <= limit) return undefined;
  return `${what} = ${positions} positions, past the model's context of ${limit} (${model.source.name}): positions beyond it were never trained, so results there measure extrapolation`;
}

/**
 * A run of `positions` positions that cannot fit this machine's memory (the keys and values of every layer
 * plus a layer's activations, fp32) is one line naming the bytes and the limit, before any work: it would
 * otherwise run out of memory after minutes, or page for hours.
 */
export function checkFitsMemory(model: LlamaModel, positions: number, what: string): void {
  const { layers, kvHeads, headDim, dim, hiddenDim } = model.config;
  const bytes = 4 * positions * (2 * layers * kvHeads * headDim + 4 * dim + 2 * hiddenDim);
  const limit = os.totalmem();
  if (bytes > limit) throw new UserError(`${what} = ${positions} positions: the model's keys, values and activations need about ${formatBytes(bytes)}, more than this machine's ${formatBytes(limit)} of memory`);
}
