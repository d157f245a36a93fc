/**
 * Generation through the decode engine with a method's batched selection (src/sim/batched-selector.ts)
 * against the tfjs model path (LlamaModel sessions with the same Method) on the same weights: B prompts of
 * one length go through the engine together (prompt positions dense, as the tfjs prefill attends them;
 * then the method's sparse steps, each fed its own greedy token), and each through a tfjs session with
 * greedy generation. The tokens must be the same, the logits close (every step's, the prompt's last
 * included). Used by test/model/engine/engine-methods.test.ts (software adapter) and `clusterkv parity --model`.
 */
import { generate } from '../generate.js';
import { createSampler } from '../sampling.js';
import type { LlamaModel } from '../transformer.js';
import { PIPELINE_TOLERANCE, worstRelative, type ParityCheck } from '../../sim/parity.js';
import { BATCHED_PARITY_PARAMS } from '../../sim/batched-parity.js';
import { createMethod, METHODS } from '../../sim/methods/index.js';
import type { Method, ParamValue } from '../../sim/selector.js';
import { DecodeEngine } from './decode-engine.js';
import type { WgslAttentionImplementation } from '../../gpu/attention.js';
import type { StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import type { EngineWeights } from './device-weights.js';

export interface EngineParityResult {
  /** the method and its parameters, one line */
  label: string;
  /** generated tokens compared (sequences x steps) and how many differ */
  tokens: number;
  tokenMismatches: number;
  /** the first differing token, described (absent when none) */
  first?: string;
  /** the worst relative logit difference (|a - b| / (1 + |b|)) over every step and sequence */
  worstLogit: number;
  /** sparse steps whose list left out a position it could see (the budget really cut) */
  cutSteps: number;
  /** the WGSL decode attention the engine ran (bound-attention.ts) */
  attentionKernel: WgslAttentionImplementation;
}

/**
 * Generates `steps` tokens per prompt (prompts of one length) both ways and compares. The webgpu backend must be
 * active. `kv` f16: the engine's cache (and every selection kernel reading it) in f16, against the f32 tfjs path.
 */
export async function engineParity(model: LlamaModel, weights: EngineWeights, method: Method, prompts: readonly (readonly number[])[], steps: number, kv: StorageDType = 'f32'): Promise<EngineParityResult> {
  const B = prompts.length;
  const P = prompts[0].length;
  if (prompts.some((p) => p.length !== P)) throw new RangeError('engine parity: the prompts must have one length');
  const V = model.config.vocabSize;
  const greedy = createSampler(0, 0);
  // the tfjs model path: greedy generation with the method, logits of every chosen token kept
  const want = await Promise.all(
    prompts.map(async (prompt) => {
      const logits: Float32Array[] = [];
      const session = model.session(method);
      try {
        const r = await generate(session, prompt, { steps, sampler: greedy, onLogits: (l) => logits.push(Float32Array.from(l)) });
        return { ids: r.ids, logits };
      } finally {
        session.dispose();
      }
    }),
  );
  const engine = new DecodeEngine({ weights, batch: B, capacity: P + steps, maxSteps: P + steps, method, kv });
  const result: EngineParityResult = { label: `${method.name} ${JSON.stringify(method.params)}${kv === 'f16' ? ', f16 KV' : ''}`, tokens: B * steps, tokenMismatches: 0, worstLogit: 0, cutSteps: 0, attentionKernel: engine.attentionKernel };
  try {
    const compare = (got: Float32Array, s: number) => {
      for (let b = 0; b < B; b++) result.worstLogit = Math.max(result.worstLogit, worstRelative(got.subarray(b * V, (b + 1) * V), want[b].logits[s]));
    };
    // the prompt as dense decode steps; a method fit on the prompt's queries (InfiniGen) gets each step's
    for (let i = 0; i < P; i++) {
      engine.step({ tokens: prompts.map((p) => p[i]) });
      if (engine.promptQueryLayers.length > 0) await engine.handStepQueries();
    }
    compare(await engine.readLogits(), 0);
    await engine.prefillSelection();
    for (let s = 1; s < steps; s++) {
      const info = engine.step({ attention: 'sparse' });
      if (info.sparseLayers > 0 && info.sparseList < info.position + 1) result.cutSteps++;
      compare(await engine.readLogits(), s);
    }
    const history = await engine.readHistory(steps);
    for (let s = 0; s < steps; s++) {
      for (let b = 0; b < B; b++) {
        if (history[s][b] === want[b].ids[s]) continue;
        result.tokenMismatches++;
        result.first ??= `step ${s}, sequence ${b}: engine ${history[s][b]}, tfjs ${want[b].ids[s]}`;
      }
    }
  } finally {
    engine.dispose();
  }
  return result;
}

/** The shared budget parameters of the engine parity on a small model (stories260K: 5 layers, head dim 8). */
export const ENGINE_PARITY_SHARED: Readonly<Record<string, ParamValue>> = { budget: 8, sinks: 4, window: 4, denseLayers: 1 };

/**
 * Configured methods of every registered method the engine runs (dense or batched) at the engine parity's
 * budget: one per parity case of batched-parity.ts ('all'), or each method's first ('first').
 */
export function engineParityMethods(cases: 'first' | 'all' = 'all'): Method[] {
  return METHODS.flatMap((m) => {
    const kind = m.engine?.kind;
    if (kind === 'dense') return [createMethod(m.name)];
    if (kind !== 'batched') return [];
    const extras = BATCHED_PARITY_PARAMS[m.name] ?? [{}];
    return (cases === 'first' ? extras.slice(0, 1) : extras).map((extra) => createMethod(m.name, { ...extra, ...ENGINE_PARITY_SHARED, ...(extra.budget !== undefined ? { budget: extra.budget } : {}) }));
  });
}

/** The prompts of the engine parity: two of 24 seeded token ids each (ids 1..vocab-1). */
export function engineParityPrompts(vocab: number, length = 24): number[][] {
  return [5, 6].map((seed) => {
    let a = seed;
    return Array.from({ length }, () => {
      a = (a * 1103515245 + 12345) % 2147483648;
      return 1 + (a % (vocab - 1));
    });
  });
}

/**
 * Parity checks (sim/parity.ts) of every engine method (engineParityMethods) generating `steps` tokens on a
 * model: its tokens exactly, its logits within the pipeline tolerance. `progress` names each method as it starts.
 */
export async function engineParityChecks(model: LlamaModel, weights: EngineWeights, steps = 10, progress?: (label: string) => void): Promise<ParityCheck[]> {
  const prompts = engineParityPrompts(model.config.vocabSize);
  const checks: ParityCheck[] = [];
  for (const [i, method] of engineParityMethods('all').entries()) {
    progress?.(`${method.name} #${i}`);
    const r = await engineParity(model, weights, method, prompts, steps);
    checks.push({ output: `engine.${method.name}#${i}.tokens`, path: 'engine', kind: 'exact', length: r.tokens, worst: r.tokenMismatches, pass: r.tokenMismatches === 0 });
    checks.push({ output: `engine.${method.name}#${i}.logits`, path: 'engine', kind: 'float', length: r.tokens, worst: r.worstLogit, tolerance: PIPELINE_TOLERANCE, pass: r.worstLogit < PIPELINE_TOLERANCE });
  }
  return checks;
}
