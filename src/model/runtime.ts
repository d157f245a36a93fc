/**
 * One front door to a model on the active backend. On webgpu the WebGPU engine (src/model/engine/) runs the
 * model: prefill and decode on the GPU, weights loaded straight from the checkpoint. Everywhere else (cpu,
 * wasm, tensorflow), and on webgpu for an attention the engine has no selection for, the tfjs op path
 * (transformer.ts) runs it: the portable reference, against which the engine is checked. Env
 * CLUSTERKV_RUNTIME=ops keeps webgpu on the op path (parity runs); CLUSTERKV_RUNTIME=engine refuses the
 * fallback instead of taking it.
 */
import { ModelError } from './errors.js';
import { loadEngineModel, type DTypeChoice, type EngineModel } from './engine/engine-model.js';
import { engineAttentionOf, type EngineChoice } from './engine/engine-session.js';
import { loadModel } from './load.js';
import type { LlamaModel } from './transformer.js';

export type RuntimeName = 'engine' | 'ops';

export interface RuntimeChoice {
  runtime: RuntimeName;
  /** what runs and why, for summaries: e.g. "tfjs ops: quest has no selection in the WebGPU engine yet" */
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
