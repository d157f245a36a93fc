/** The model and tokenizer of --model and --tokenizer, loaded so that an error names the option. */
import os from 'node:os';
import { formatBytes } from '../model/engine/footprint.js';
import { loadEngineModel, type EngineLoadOptions, type EngineModel } from '../model/engine/engine-model.js';
import { loadModel, loadTokenizer } from '../model/load.js';
import { loadRuntimeModel, type RuntimeChoice, type RuntimeLoadOptions, type RuntimeModel } from '../model/runtime.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import type { LlamaModel } from '../model/transformer.js';

/** What these checks read of a model, on either runtime (a tfjs LlamaModel or the engine's EngineModel). */
type ModelInfo = Pick<LlamaModel, 'config' | 'source'>;
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

/** --model loaded for the chosen runtime (runtime.ts): the engine's weights on the GPU, or a tfjs model. */
export function loadRuntimeModelOption(path: string, choice: RuntimeChoice, opts: RuntimeLoadOptions = {}): Promise<RuntimeModel> {
  return namingOption('--model', () => loadRuntimeModel(path, choice, opts));
}

/** --model's weights on the GPU for the engine. */
export function loadEngineModelOption(path: string, opts: EngineLoadOptions = {}): Promise<EngineModel> {
  return namingOption('--model', () => loadEngineModel(path, opts));
}

/** --tokenizer, or without it the checkpoint's own (then a problem is the --model's). */
export function loadTokenizerOption(path: string | undefined, model: ModelInfo): Promise<TextTokenizer> {
  return namingOption(path === undefined ? '--model' : '--tokenizer', () => loadTokenizer(path, model));
}

/**
 * The warning of a run past the model's context (its seq_len or max_position_embeddings): it runs (RoPE
 * extrapolates), but positions beyond it were never trained. `what` names the options that make it.
 */
export function pastContextWarning(model: ModelInfo, positions: number, what: string): string | undefined {
  const limit = model.config.maxSeqLen;
  if (positions <= limit) return undefined;
  return `${what} = ${positions} positions, past the model's context of ${limit} (${model.source.name}): positions beyond it were never trained, so results there measure extrapolation`;
}

/**
 * A run of `positions` positions that cannot fit this machine's memory (the keys and values of every layer
 * plus a layer's activations, fp32: the tfjs op path's) is one line naming the bytes and the limit, before
 * any work: it would otherwise run out of memory after minutes, or page for hours. (The engine checks its
 * GPU footprint itself: engine/footprint.ts.)
 */
export function checkFitsMemory(loaded: LlamaModel | RuntimeModel, positions: number, what: string): void {
  if ('runtime' in loaded && loaded.runtime === 'engine') return;
  const model = 'runtime' in loaded ? loaded.model : loaded;
  const { layers, kvHeads, headDim, dim, hiddenDim } = model.config;
  const bytes = 4 * positions * (2 * layers * kvHeads * headDim + 4 * dim + 2 * hiddenDim);
  const limit = os.totalmem();
  if (bytes > limit) throw new UserError(`${what} = ${positions} positions: the model's keys, values and activations need about ${formatBytes(bytes)}, more than this machine's ${formatBytes(limit)} of memory`);
}
