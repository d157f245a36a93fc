/**
 * One front door to a model on the active backend. On webgpu the WebGPU engine (src/model/engine/) runs the
 * model: prefill and decode on the GPU, weights loaded straight from the checkpoint. Everywhere else (cpu,
 * wasm, tensorflow), and on webgpu for an attention the engine has no selection for, the tfjs op path
 * (transformer.ts) runs it: the portable reference, against which the engine is checked. Env
 * CLUSTERKV_RUNTIME=ops keeps webgpu on the op path (parity runs); CLUSTERKV_RUNTIME=engine refuses the
 * fallback instead of taking it. generateWith, compareWith, perplexityWith and captureWith run generate.ts's,
 * compare.ts's and capture.ts's calls on whichever runtime was loaded.
 */
import type { Method } from '../sim/selector.js';
import { captureTrace, type CaptureResult } from './capture.js';
import { compareGeneration, teacherForcedPerplexity, type CompareGenerationOptions, type ComparisonSummary, type PerplexityResult } from './compare.js';
import { captureTraceOnEngine, type EngineCaptureOptions } from './engine/engine-capture.js';
import { compareGenerationOnEngine, teacherForcedPerplexityOnEngine, type EngineCompareOptions } from './engine/engine-compare.js';
import { generateOnEngine, type EngineGenerateOptions, type EngineRunSummary } from './engine/engine-generate.js';
import { loadEngineModel, type DTypeChoice, type EngineModel } from './engine/engine-model.js';
import { engineAttentionOf, type EngineChoice } from './engine/engine-session.js';
import { ModelError } from './errors.js';
import { generate, type GenerateResult } from './generate.js';
import { loadModel } from './load.js';
import type { LlamaModel } from './transformer.js';

export type RuntimeName = 'engine' | 'ops';

export interface RuntimeChoice {
  runtime: RuntimeName;
  /** what runs and why, for summaries: e.g. "tfjs ops: infinigen runs on the reference path only (...)" */
  reason: string;
}

/** The runtime for `choices` (every attention a run will use) on `backend`. */
export function chooseRuntime(backend: string, choices: readonly EngineChoice[]): RuntimeChoice {
  const wanted = process.env.CLUSTERKV_RUNTIME;
  if (wanted !== undefined && wanted !== '' && wanted !== 'engine' && wanted !== 'ops') throw new ModelError(`CLUSTERKV_RUNTIME must be engine or ops, got '${wanted}'`);
  if (backend !== 'webgpu') {
    if (wanted === 'engine') throw new ModelError(`CLUSTERKV_RUNTIME=engine needs the webgpu backend (active: ${backend})`);
    return { runtime: 'ops', reason: 'tfjs ops' };
  }
  if (wanted === 'ops') return { runtime: 'ops', reason: 'tfjs ops: CLUSTERKV_RUNTIME=ops' };
  const problems = choices.map(engineAttentionOf).flatMap((p) => ('problem' in p ? [p.problem] : []));
  if (problems.length === 0) return { runtime: 'engine', reason: 'WebGPU engine' };
  if (wanted === 'engine') throw new ModelError(`CLUSTERKV_RUNTIME=engine: ${problems[0]}`);
  return { runtime: 'ops', reason: `tfjs ops: ${problems[0]}` };
}

export type RuntimeModel = { runtime: 'engine'; model: EngineModel; reason: string } | { runtime: 'ops'; model: LlamaModel; reason: string };

export interface RuntimeLoadOptions {
  /** the engine's weights dtype (default auto: the checkpoint's precision) */
  weights?: DTypeChoice;
  /** engine weights uploaded so far, in bytes, of all */
  progress?: (done: number, total: number) => void;
}

/** Loads the checkpoint for the chosen runtime (the engine's weights, or a tfjs model). */
export async function loadRuntimeModel(path: string, choice: RuntimeChoice, opts: RuntimeLoadOptions = {}): Promise<RuntimeModel> {
  if (choice.runtime === 'engine') return { runtime: 'engine', model: await loadEngineModel(path, opts), reason: choice.reason };
  return { runtime: 'ops', model: await loadModel(path), reason: choice.reason };
}

/** E.g. "WebGPU engine, f16 weights", "tfjs ops". */
export function describeRuntime(m: RuntimeModel): string {
  return m.runtime === 'engine' ? `${m.reason}, ${m.model.weights.dtype} weights` : m.reason;
}

/** generate (generate.ts) on the loaded runtime: `attention` 'dense' (default) or a method. */
export async function generateWith(m: RuntimeModel, prompt: readonly number[], opts: EngineGenerateOptions): Promise<GenerateResult & { engine?: EngineRunSummary }> {
  if (m.runtime === 'engine') return generateOnEngine(m.model, prompt, opts);
  const session = m.model.session(opts.attention ?? 'dense');
  try {
    return await generate(session, prompt, opts);
  } finally {
    session.dispose();
  }
}

/** compareGeneration (compare.ts) on the loaded runtime. */
export function compareWith(m: RuntimeModel, method: Method, prompt: readonly number[], opts: CompareGenerationOptions & EngineCompareOptions): Promise<{ ids: number[]; comparison: ComparisonSummary }> {
  return m.runtime === 'engine' ? compareGenerationOnEngine(m.model, method, prompt, opts) : compareGeneration(m.model, method, prompt, opts);
}

/** teacherForcedPerplexity (compare.ts) on the loaded runtime. */
export function perplexityWith(m: RuntimeModel, tokens: readonly number[], prefillLength: number, method?: Method, onStep?: (done: number, total: number) => void, opts: EngineCompareOptions = {}): Promise<PerplexityResult> {
  return m.runtime === 'engine' ? teacherForcedPerplexityOnEngine(m.model, tokens, prefillLength, method, onStep, opts) : teacherForcedPerplexity(m.model, tokens, prefillLength, method, onStep);
}

/** captureTrace (capture.ts) on the loaded runtime (the engine: one prefill of the N + S tokens). */
export function captureWith(m: RuntimeModel, tokens: readonly number[], path: string, opts: EngineCaptureOptions): Promise<CaptureResult> {
  return m.runtime === 'engine' ? captureTraceOnEngine(m.model, tokens, path, opts) : captureTrace(m.model, tokens, path, opts);
}
