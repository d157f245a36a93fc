/**
 * compare.ts's comparisons on the engine: a sparse method against dense attention on the same tokens, one
 * engine session each (same weights), the prompt prefilled once (in the dense session's cache, then copied
 * into the sparse one's). Same results as compare.ts: next-token KL (dense || sparse) and top-1 agreement per
 * step, teacher-forced perplexity; budgetBound is whether the sparse layers attended fewer positions than
 * they could see.
 */
import { checkPerplexityLengths, comparisonOver, perplexityOver, type CompareGenerationOptions, type ComparisonSummary, type LogitsPair, type PerplexityResult } from '../compare.js';
import { ModelError } from '../errors.js';
import type { Method } from '../../sim/selector.js';
import type { StepAttention } from './decode-engine.js';
import type { DTypeChoice, EngineModel } from './engine-model.js';
import { EngineSession, type EngineChoice } from './engine-session.js';

export interface EngineCompareOptions {
  kv?: DTypeChoice;
  prefillChunk?: number;
}

/**
 * Engine sessions as compare.ts's LogitsPair: a dense one and (with a method) a sparse one, the prompt
 * prefilled once in the dense session's cache and copied into the sparse one's, both first logits the prefill's.
 */
function enginePair(model: EngineModel, method: Method | undefined, steps: number, o: EngineCompareOptions): LogitsPair {
  const V = model.shape.vocabSize;
  let dense: EngineSession | undefined;
  let sparse: EngineSession | undefined;
  return {
    sparse: !!method,
    async start(prompt) {
      const P = prompt.length;
      const size = { capacity: P + Math.max(1, steps), maxSteps: Math.max(1, steps), kv: o.kv, prefillChunk: o.prefillChunk };
      dense = new EngineSession(model, { ...size, attention: 'dense' });
      if (method) sparse = new EngineSession(model, { ...size, attention: method as EngineChoice, kv: dense.kv });
      // the sparse session's selectors see the prompt's queries as its own prefill would give them
      await dense.prefill(0, prompt, 0, undefined, sparse ? [sparse] : []);
      const first = await dense.prefillLogits();
      dense.releasePrefill();
      if (sparse) dense.cache.copySequence(0, 0, P, sparse.cache);
      await dense.start(P);
      await sparse?.start(P);
      return { dense: first, sparse: sparse ? first : undefined };
    },
    async next(token) {
      const info = sparse?.step({ tokens: [token] });
      dense!.step({ tokens: [token] });
      const sp = sparse ? (await sparse.engine.readLogits()).subarray(0, V) : undefined;
      return { dense: (await dense!.engine.readLogits()).subarray(0, V), sparse: sp, budgetBound: info ? bound(info) : undefined };
    },
    async dispose() {
      await sparse?.dispose();
      await dense?.dispose();
    },
  };
}

const bound = (info: StepAttention) => info.attention === 'sparse' && info.sparseList < info.position + 1;

/** compareGeneration (compare.ts) on the engine. */
export async function compareGenerationOnEngine(model: EngineModel, method: Method, prompt: readonly number[], opts: CompareGenerationOptions & EngineCompareOptions): Promise<{ ids: number[]; comparison: ComparisonSummary }> {
  if (prompt.length === 0) throw new ModelError('generation needs a prompt of at least one token (e.g. BOS)');
  return comparisonOver(enginePair(model, method, opts.steps, opts), prompt, opts);
}

/** teacherForcedPerplexity (compare.ts) on the engine. */
export async function teacherForcedPerplexityOnEngine(model: EngineModel, tokens: readonly number[], prefillLength: number, method?: Method, onStep?: (done: number, total: number) => void, o: EngineCompareOptions = {}): Promise<PerplexityResult> {
  checkPerplexityLengths(tokens, prefillLength);
  return perplexityOver(enginePair(model, method, tokens.length - prefillLength, o), tokens, prefillLength, onStep);
}

/** teacherForcedLogits (compare.ts) on the engine: the logits [V] after each id of `next`, after the prompt. */
export async function teacherForcedLogitsOnEngine(model: EngineModel, choice: EngineChoice, prompt: readonly number[], next: readonly number[], o: EngineCompareOptions = {}): Promise<Float32Array[]> {
  const session = new EngineSession(model, { attention: choice, capacity: prompt.length + next.length, maxSteps: Math.max(1, next.length), kv: o.kv, prefillChunk: o.prefillChunk });
  try {
    await session.prefill(0, prompt);
    await session.prefillToken();
    session.releasePrefill();
    await session.start(prompt.length);
    const rows: Float32Array[] = [];
    for (const t of next) {
      session.step({ tokens: [t] });
      rows.push((await session.engine.readLogits()).slice(0, model.shape.vocabSize));
    }
    return rows;
  } finally {
    await session.dispose();
  }
}
