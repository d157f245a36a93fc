/**
 * A model as the engine runs it: its configuration, where it came from, and its weights on the GPU in the
 * engine's layout (device-weights.ts), loaded straight from the checkpoint (no tfjs model, no f32 copy).
 * The weights' dtype: 'auto' keeps the checkpoint's precision (F32 -> f32; F16 and BF16 -> f16), or f32/f16
 * as asked. Memory is checked before anything is allocated (footprint.ts).
 */
import { type StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import type { ModelConfig } from '../config.js';
import { ModelError } from '../errors.js';
import type { StoredDType } from '../file-reader.js';
import type { LlamaModel } from '../transformer.js';
import type { ModelSource } from '../weights.js';
import { uploadEngineWeights, type EngineWeights } from './device-weights.js';
import { checkFootprint } from './footprint.js';
import { engineShapeOf, engineShapeProblem, type EngineShape } from './shape.js';
import { modelWeightReader, openWeightReader, type WeightReader } from './weight-reader.js';

/** A storage dtype, or 'auto': the checkpoint's precision. */
export type DTypeChoice = 'auto' | StorageDType;

export const DTYPE_CHOICES: readonly DTypeChoice[] = ['auto', 'f32', 'f16'];

/** 'auto' -> f32 for F32 checkpoints, f16 for F16 and BF16 ones. */
export function resolveDType(choice: DTypeChoice, stored: StoredDType): StorageDType {
  if (choice !== 'auto') return choice;
  return stored === 'F32' ? 'f32' : 'f16';
}

export interface EngineModel {
  config: ModelConfig;
  source: ModelSource;
  shape: EngineShape;
  /** how the checkpoint stores its matrices */
  stored: StoredDType;
  weights: EngineWeights;
  dispose(): void;
}

export interface EngineLoadOptions {
  /** the weights' dtype (default auto) */
  weights?: DTypeChoice;
  /** bytes uploaded so far, of all */
  progress?: (done: number, total: number) => void;
}

async function fromReader(reader: WeightReader, opts: EngineLoadOptions): Promise<EngineModel> {
  try {
    const c = reader.config;
    const shape = engineShapeOf(c);
    const problem = engineShapeProblem(shape);
    if (problem) throw new ModelError(`${reader.source.path}: the WebGPU engine cannot run this model: ${problem}`);
    const dtype = resolveDType(opts.weights ?? 'auto', reader.stored);
    checkFootprint({ shape, weights: dtype, kv: 'f32', batch: 0, capacity: 0, tied: c.tiedEmbeddings }, `${reader.source.name} (${dtype} weights)`);
    const weights = await uploadEngineWeights(reader, shape, dtype, opts.progress);
    return { config: c, source: reader.source, shape, stored: reader.stored, weights, dispose: () => weights.dispose() };
  } finally {
    await reader.close();
  }
}

/** Loads a checkpoint (llama2.c .bin or Hugging Face folder) onto the GPU for the engine. */
export async function loadEngineModel(path: string, opts: EngineLoadOptions = {}): Promise<EngineModel> {
  return fromReader(await openWeightReader(path), opts);
}

/** The weights of a model loaded in tfjs, on the GPU for the engine (tests: same weights on both paths). */
export async function engineModelFrom(model: LlamaModel, opts: EngineLoadOptions = {}): Promise<EngineModel> {
  return fromReader(modelWeightReader(model), opts);
}
