/**
 * The one interface every method implements (full, oracle, clusterkv and the baselines).
 *
 * A Method is configured once (parameters validated at construction) and makes one LayerSelector per
 * layer of a trace or a live model. A LayerSelector sees the layer's keys as decoding proceeds and
 * says, per decode step and query head, which positions the query attends.
 *
 * Tensor ownership: inputs are borrowed (the caller disposes them after the call); a selector that keeps
 * them must clone/keep its own copy. Tensors in a returned Selection belong to the caller.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { MethodEngine } from './batched-selector.js';
import type { BudgetMode } from './budget.js';
import type { LayerMemo } from './layer-memo.js';

export type ParamValue = number | string | boolean;
export type MethodParams = Readonly<Record<string, ParamValue>>;

export interface LayerInfo {
  /** layer index in the model */
  layer: number;
  /** query heads H */
  heads: number;
  /** KV heads G (H is a multiple of G; query head h reads KV head floor(h / (H / G))) */
  kvHeads: number;
  /** head dimension d */
  headDim: number;
  /** shared by the selectors of this layer in one replay (see layerMemo.ts); absent in live decoding */
  memo?: LayerMemo;
  /**
   * The model path only, from the second layer on (traces and the first layer have none): the current decode
   * step's query as InfiniGen speculates it, [H, d] post-RoPE, layer l's query weights applied to layer
   * l - 1's attention input (its normalised hidden state) with RoPE at the step's position. Call it inside
   * step() only; computed on demand (nothing is spent for a selector that does not ask); the selector
   * disposes the tensor it returns.
   */
  speculatedQuery?: () => tf.Tensor2D;
}

/** Units a method selects (clusters, pages, blocks), for cache simulation and diagnostics. */
export interface SelectedUnits {
  kind: 'cluster' | 'page' | 'block' | 'token';
  /** per query head, the ids of the units it selected in rank order (ids unique within a KV head) */
  ids: Int32Array[];
  /** size in tokens of each selected unit, aligned with ids */
  sizes?: Int32Array[];
}

export interface Selection {
  /**
   * [H, n] int32: per query head, the distinct positions it attends (sinks, selected, open window,
   * current token), n slots per head. Order is not meaningful. A negative position is an empty slot
   * (attends nothing): a head that chose fewer than selectedCount (selectedPerHead) has its rest empty, and
   * every consumer (metrics, sparse attention, the cache simulator, the parity harness) skips them.
   */
  tokens: tf.Tensor2D;
  /** true when tokens are every position 0..p (dense attention): metrics need no gather then */
  dense?: boolean;
  /** how many of the n slots were chosen by the method's ranking (not forced): the largest head's count */
  selectedCount: number;
  /**
   * [H] per query head, how many it chose, where heads chose different counts (per-head budgets: the top-p
   * wrapper's 'head' mode); absent: every head chose selectedCount
   */
  selectedPerHead?: Int32Array;
  /** the units behind the selection, if the method selects units */
  units?: SelectedUnits;
  /** method-specific numbers for this step (means over heads), e.g. clustersTouched */
  stats?: Record<string, number>;
}

export interface LayerSelector {
  /**
   * Prompt keys and values of this layer, positions 0..P-1. keys, values: [G, P, d]. Called once, first.
   * queries [H, P, d]: the prompt's queries, where the caller has them (the model path), for methods
   * calibrated on queries (InfiniGen's skewing). Traces store none (their queries are the decode steps', the
   * ones scored), so replays pass nothing and such a method falls back to what it documents.
   */
  prefill(keys: tf.Tensor3D, values: tf.Tensor3D, queries?: tf.Tensor3D): void;
  /**
   * One decode step: append kNew, vNew [G, n, d] (the positions since the last call, ending with the
   * current token, so the cache then covers 0..position), then choose what q [H, d] attends.
   * Asynchronous on every backend: what a selector reads back to the host (a ranking's cluster choice, for
   * stats) is read with data(), as webgpu in Node has no synchronous reads.
   */
  step(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D): Promise<Selection>;
  dispose(): void;
}

/** A ranking method's estimate of one step's attention, from which a caller picks the step's budget. */
export interface StepScores {
  /**
   * [H, m] per query head, the method's estimate of each selectable token's logit q.k / sqrt(d) (m: the
   * selectable tokens, in any order; the tokens of a unit share the unit's score). Borrowed for the call.
   */
  logits: tf.Tensor2D;
}

/**
 * A step's selectable budget: one count b for every query head, or [H] a count per query head (each head
 * takes its own top b_h by the method's ranking; its slots past b_h up to the largest are empty).
 */
export type StepBudget = number | Int32Array;

/**
 * Picks a step's selectable budget (every count 0 <= b <= chosen) from the method's scores; chosen: what
 * step() would choose.
 */
export type BudgetChooser = (scores: StepScores, chosen: number) => Promise<StepBudget>;

/**
 * A selector whose ranking can spend a budget chosen per step from its own scores (the top-p wrapper,
 * methods/top-p.ts): the method appends kNew and vNew, plans the step as step() does, scores the selectable
 * range, asks `choose` for b (or a b_h per head) and selects its top b by its own ranking. step() is this with b = chosen (or
 * the method's own rule). choose is not called when the step has nothing to choose.
 */
export interface ScoringSelector extends LayerSelector {
  stepWithBudget(q: tf.Tensor2D, kNew: tf.Tensor3D, vNew: tf.Tensor3D, choose: BudgetChooser): Promise<Selection>;
}

export function isScoringSelector(selector: LayerSelector): selector is ScoringSelector {
  return typeof (selector as Partial<ScoringSelector>).stepWithBudget === 'function';
}

export interface Method {
  /** method name as written in results ('full', 'oracle', 'clusterkv', ...) */
  readonly name: string;
  /** every parameter, as recorded in results and the manifest */
  readonly params: MethodParams;
  /** the token budget B (Infinity for full) and how it is counted */
  readonly budget: number;
  readonly budgetMode: BudgetMode;
  forLayer(info: LayerInfo): LayerSelector;
  /** how the WebGPU decode engine runs it (batched-selector.ts); absent: the reference path only */
  readonly engine?: MethodEngine;
}
