/**
 * compare.ts's comparisons on the engine: a sparse method against dense attention on the same tokens, one
 * engine session each (same weights), the prompt prefilled once (in the dense session's cache, then copied
 * into the sparse one's). Same results as compare.ts: next-token KL (dense || sparse) and top-1 agreement per
 * step, teacher-forced perplexity; budgetBound is whether the sparse layers attended fewer positions than
 * they could see.
 */
import { klDivergence, logSoftmax, summarizeComparison, type ComparisonSummary, type CompareGenerationOptions, type PerplexityResult, type StepComparison } from '../compare.js';
import { ModelError } from '../errors.js';
import { argmax } from '../sampling.js';
import type { Method } from '../../sim/selector.js';
import type { StepAttention } from './decode-engine.js';
import type { DTypeChoice, EngineModel } from './engine-model.js';
import { EngineSession, type EngineChoice } from './engine-session.js';

export interface EngineCompareOptions {
  kv?: DTypeChoice;
  prefillChunk?: number;
}

/** A dense and a sparse session over one prefilled prompt; the caller disposes them. */
async function pair(model: EngineModel, method: Method, prompt: readonly number[], steps: number, o: EngineCompareOptions): Promise<{ dense: EngineSession; sparse: EngineSession; first: Float32Array }> {
  const P = prompt.length;
  const size = { capacity: P + Math.max(1, steps), maxSteps: Math.max(1, steps), kv: o.kv, prefillChunk: o.prefillChunk };
  const dense = new EngineSession(model, { ...size, attention: 'dense' });
  let sparse: EngineSession | undefined;
  try {
    sparse = new EngineSession(model, { ...size, attention: method as EngineChoice, kv: dense.kv });
    await dense.prefill(0, prompt);
    const first = await dense.prefillLogits();
    dense.releasePrefill();
    dense.cache.copySequence(0, 0, P, sparse.cache);
    await dense.start(P);
    await sparse.start(P);
    return { dense, sparse, first };
  } catch (err) {
    await dense.dispose();
    await sparse?.dispose();
    throw err;
  }
}

const bound = (info: StepAttention) => info.attention === 'clusterkv' && info.sparseList < info.position + 1;

/** compareGeneration (compare.ts) on the engine. */
export async function compareGenerationOnEngine(model: EngineModel, method: Method, prompt: readonly number[], opts: CompareGenerationOptions & EngineCompareOptions): Promise<{ ids: number[]; comparison: ComparisonSummary }> {
  if (prompt.length === 0) throw new ModelError('generation needs a prompt of at least one token (e.g. BOS)');
  const V = model.shape.vocabSize;
  const { dense, sparse, first } = await pair(model, method, prompt, opts.steps, opts);
  try {
    let sp = first;
    let dn = first;
    let info: StepAttention | undefined;
    const ids: number[] = [];
    const steps: StepComparison[] = [];
    for (let s = 0; s < opts.steps; s++) {
      const id = opts.sampler.next(sp);
      const cmp: StepComparison = { step: s, token: id, kl: klDivergence(dn, sp), denseTop1: argmax(dn), sparseTop1: argmax(sp), budgetBound: info ? bound(info) : undefined };
      steps.push(cmp);
      opts.onStep?.(cmp);
      if (opts.stopIds?.includes(id)) break;
      ids.push(id);
      if (s + 1 === opts.steps) break;
      info = sparse.step({ tokens: [id] });
      dense.step({ tokens: [id] });
      sp = (await sparse.engine.readLogits()).subarray(0, V);
      dn = (await dense.engine.readLogits()).subarray(0, V);
    }
    return { ids, comparison: summarizeComparison(steps) };
  } finally {
    await sparse.dispose();
    await dense.dispose();
  }
}

/** teacherForcedPerplexity (compare.ts) on the engine. */
export async function teacherForcedPerplexityOnEngine(model: EngineModel, tokens: readonly number[], prefillLength: number, method?: Method, onStep?: (done: number, total: number) => void, o: EngineCompareOptions = {}): Promise<PerplexityResult> {
  const T = tokens.length;
  if (!Number.isInteger(prefillLength) || prefillLength < 1 || prefillLength >= T) {
    throw new RangeError(`perplexity needs 1 <= context < text tokens; context ${prefillLength}, text ${T} tokens`);
  }
  const V = model.shape.vocabSize;
  const prompt = tokens.slice(0, prefillLength);
  const scored = T - prefillLength;
  let dense: EngineSession;
  let sparse: EngineSession | undefined;
  let first: Float32Array;
  if (method) ({ dense, sparse, first } = await pair(model, method, prompt, scored, o));
  else {
    dense = new EngineSession(model, { attention: 'dense', capacity: T, maxSteps: scored, kv: o.kv, prefillChunk: o.prefillChunk });
    await dense.prefill(0, prompt);
    first = await dense.prefillLogits();
    dense.releasePrefill();
    await dense.start(prefillLength);
  }
  try {
    let dn = first;
    let sp = sparse ? first : undefined;
    let info: StepAttention | undefined;
    let denseNll = 0;
    let sparseNll = 0;
    const steps: StepComparison[] = [];
    for (let p = prefillLength; p < T; p++) {
      const target = tokens[p];
      denseNll -= logSoftmax(dn)[target];
      if (sp) {
        sparseNll -= logSoftmax(sp)[target];
        steps.push({ step: p - prefillLength, token: target, kl: klDivergence(dn, sp), denseTop1: argmax(dn), sparseTop1: argmax(sp), budgetBound: info ? bound(info) : undefined });
      }
      onStep?.(p - prefillLength + 1, scored);
      if (p + 1 < T) {
        dense.step({ tokens: [target] });
        dn = (await dense.engine.readLogits()).subarray(0, V);
        if (sparse) {
          info = sparse.step({ tokens: [target] });
          sp = (await sparse.engine.readLogits()).subarray(0, V);
        }
      }
    }
    return { scored, densePerplexity: Math.exp(denseNll / scored), sparsePerplexity: sparse ? Math.exp(sparseNll / scored) : undefined, comparison: sparse ? summarizeComparison(steps) : undefined };
  } finally {
    await sparse?.dispose();
    await dense.dispose();
  }
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
