/**
 * A document's answer under each method, from ONE dense prefill: the prompt runs once with exact causal
 * attention (as ClusterKV and Quest prefill); its per-layer keys and values are the state every method's
 * session starts from (each its own copy, selectors get them as their prompt), and its last logits give the
 * first answer token for every method. The remaining answer tokens are decoded greedily through the method's
 * sparse attention, each step's selection observed for needle recall.
 */
import { BUDGET_PARAMS } from '../../sim/methods/index.js';
import { LayerMemo } from '../../sim/layer-memo.js';
import type { Method } from '../../sim/selector.js';
import { greedyId } from '../generate.js';
import { disposePrefilledState, type LlamaModel, type PrefilledState } from '../transformer.js';
import { NeedleRecallRecorder, type NeedleRecallRecord } from './needle-recall.js';

export interface Prefill {
  state: PrefilledState;
  /** greedy first answer token (from the dense prefill's last logits), shared by every method */
  firstToken: number;
  seconds: number;
  /** per layer, shared by the sessions of this prefill (ClusterKV's K-means once for every budget) */
  memos: LayerMemo[];
}

/** Runs the prompt once with dense attention. */
export async function prefillPrompt(model: LlamaModel, tokens: readonly number[], onLayer?: (done: number, layers: number) => void): Promise<Prefill> {
  const t0 = performance.now();
  // the prompt's queries are kept for methods calibrated on them (InfiniGen's skewing basis)
  const session = model.session('dense', { keepPromptQueries: true });
  try {
    const firstToken = await greedyId(await session.forward(tokens, true, onLayer));
    const state = session.prefilledState();
    return { state, firstToken, seconds: (performance.now() - t0) / 1000, memos: Array.from({ length: model.config.layers }, () => new LayerMemo()) };
  } finally {
    session.dispose();
  }
}

export function disposePrefill(prefill: Prefill): void {
  disposePrefilledState(prefill.state);
  for (const m of prefill.memos) m.dispose();
}

export interface AnswerDecode {
  ids: number[];
  records: NeedleRecallRecord[];
  /** the method's per-step stats of its last decode step, first sparse layer (e.g. ClusterKV's promptClusters) */
  stats?: Record<string, number>;
  seconds: number;
}

/** The first layer where a method selects: its denseLayers (every budgeted method's), or that default for full. */
export function firstSparseLayer(method: Method): number {
  const dense = method.params.denseLayers;
  return typeof dense === 'number' ? dense : (BUDGET_PARAMS.denseLayers.default as number);
}

/**
 * Greedy decode of `length` answer tokens with `method` from the prefill (the first token is the prefill's).
 * needle, key: token positions observed for needle recall in the method's sparse layers.
 */
export async function decodeAnswer(model: LlamaModel, prefill: Prefill, method: Method, length: number, needle: readonly number[], key: readonly number[]): Promise<AnswerDecode> {
  const t0 = performance.now();
  const sparseFrom = firstSparseLayer(method);
  const recorder = new NeedleRecallRecorder({ needle, key, promptLength: prefill.state.length, layers: (l) => l >= sparseFrom });
  const session = model.sessionFrom(prefill.state, method, { observer: recorder.observer, memos: prefill.memos });
  try {
    const ids = [prefill.firstToken];
    while (ids.length < length) ids.push(await greedyId(await session.step(ids[ids.length - 1])));
    const stats = session.lastSelections().find((s) => s.layer >= sparseFrom)?.stats;
    return { ids, records: recorder.records, stats, seconds: (performance.now() - t0) / 1000 };
  } finally {
    session.dispose();
  }
}
