/**
 * The batched form of a method's selection: what the WebGPU decode engine (src/model/engine/decode-engine.ts)
 * runs per sparse layer for B sequences decoded together, as a model session keeps a LayerSelector
 * (selector.ts) per layer and sequence. Same budget accounting (budget.ts), same positions: a method's
 * batched form attends, per query head, exactly what its LayerSelector attends on the same keys and queries.
 *
 * The engine lends each layer's selector its buffers (BatchedLayer). A step:
 *   engine     writes the layer's keys up to the current position and the step's queries (after RoPE)
 *   selector   step() plans the step (closing windows, re-summarising, rewriting its own uniforms) and
 *              returns the dispatches that write the selected positions [B H, selected] into `selected`
 *   engine     records them, then the token list (src/gpu/wgsl/select/token-list.ts: sinks, the selected
 *              positions, the open window up to the current token) and sparse attention over the list
 * The selected positions of a head are distinct and lie in the selectable range [sinkEnd, openStart); their
 * order is not meaningful.
 *
 * How a method runs in the engine is declared once, with the method (define.ts `engine`): the engine's dense
 * attention (full), its batched form, or the reference path only, with the reason (`clusterkv methods`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { StorageDType } from '../gpu/wgsl/engine/storage-dtype.js';
import type { BoundDispatch } from '../gpu/wgsl/runtime/step-recorder.js';
import { decodeLayout, forcedCount, selectableBudget, type DecodeLayout, type ForcedSetParams } from './budget.js';

/** What the engine lends one layer's selector. Every buffer is the engine's (the selector never destroys one). */
export interface BatchedLayer {
  /** layer index in the model */
  readonly layer: number;
  /** sequences decoded together, B */
  readonly batch: number;
  /** query heads per sequence, H */
  readonly heads: number;
  /** KV heads per sequence, G (query head h of sequence b reads KV head b G + floor(h / (H / G))) */
  readonly kvHeads: number;
  /** head dimension d */
  readonly headDim: number;
  /** positions per KV head row of the key buffer, T */
  readonly capacity: number;
  /** [B G, T, d]: the layer's keys after RoPE (row b G + g holds sequence b's KV head g), stored as keyDtype says */
  readonly keys: GPUBuffer;
  /** how `keys` is stored: f32, or f16 in pairs (storage-dtype.ts); a kernel reading it reads that dtype */
  readonly keyDtype: StorageDType;
  /** Rows start..start+n-1 of every KV head of the batch: a new tensor [B G, n, d] (the caller disposes it). */
  keyRows(start: number, n: number): tf.Tensor3D;
  /** [B H, d] f32: the step's queries after RoPE, written before the selection dispatches run */
  readonly queries: GPUBuffer;
  /**
   * i32, room for [B H, B'] (B' = largestBudget): the selection dispatches write [B H, selected] here (row
   * stride `selected`)
   */
  readonly selected: GPUBuffer;
  /** B': the largest budget the engine was sized for (a step's selected count never exceeds it) */
  readonly largestBudget: number;
  /**
   * A scratch buffer shared by every layer's selector under `name` (layers run one after another in a step):
   * created at the first request, and every request must ask for no more bytes than the first.
   */
  scratch(name: string, bytes: number): GPUBuffer;
}

/**
 * What a batched selector is sized by: its BatchedLayer's numbers, without the buffers, and the prompt's
 * length where it is known (a state that depends on it, ClusterKV's clusters, is otherwise sized for the
 * most any prompt within the capacity gives).
 */
export type BatchedShape = Pick<BatchedLayer, 'batch' | 'heads' | 'kvHeads' | 'headDim' | 'capacity' | 'largestBudget'> & { readonly prompt?: number };

/**
 * GPU bytes a method's batched selection holds, at most, for its shape's prompt or any the capacity allows (the engine adds
 * them up before it allocates anything: src/model/engine/footprint.ts):
 *   layer      what each sparse layer's selector keeps between steps (its own buffers and tensors)
 *   scratch    the buffers every layer's selector shares by name (BatchedLayer.scratch), as asked for
 *   rebuilt    what of a layer's state a rebuild replaces (new unit summaries, ClusterKV's grown centroids):
 *              on a step that meets a new layout of windows every layer rebuilds before the step is
 *              submitted, and tfjs's pool keeps each old state (no later request has its size) until the
 *              engine trims it after the step, so every layer counts it once more
 *   transient  the most one selector holds on top for a moment (the key rows it reads, a clustering's
 *              intermediates, tfjs's pooled scratch); layers run one after another and their intermediates
 *              have the same sizes (the pool hands one layer's to the next), so it counts once, or for
 *              `pending` layers where intermediates of tfjs programs wait for tfjs's next submit
 * The selectors ask for their scratch with the sizes declared here (one home), and a test holds each
 * method's declaration against the bytes its selector really holds (test/sim/methods/selection-bytes.test.ts).
 */
export interface SelectionBytes {
  readonly layer: number;
  readonly scratch: Readonly<Record<string, number>>;
  readonly rebuilt: number;
  readonly transient: number;
  /** layers whose transients may be alive at once (default 1) */
  readonly pending?: number;
}

/** What a transient run of tfjs ops adds beyond its tensors: the small buffers tfjs pools (uniforms, scalars). */
export const OP_CHAIN_SLACK = 64 * 1024;

/** A selection that holds nothing of its own (streaming: the token list alone). */
export const NO_SELECTION_BYTES: SelectionBytes = Object.freeze({ layer: 0, scratch: Object.freeze({}), rebuilt: 0, transient: 0 });

/** Bytes of a selection over `layers` sparse layers: each layer's own and its rebuilt state, the shared scratch once, the largest moment once. */
export function selectionTotal(b: SelectionBytes, layers: number): number {
  return layers * (b.layer + b.rebuilt) + Object.values(b.scratch).reduce((a, x) => a + x, 0) + Math.min(layers, b.pending ?? 1) * b.transient;
}

/** The scratch buffer `name` of a declaration, from the engine's layer (the size is the declaration's). */
export function declaredScratch(layer: BatchedLayer, bytes: SelectionBytes, name: string): GPUBuffer {
  const size = bytes.scratch[name];
  if (size === undefined) throw new Error(`batched selection: scratch '${name}' is not declared`);
  return layer.scratch(name, size);
}

/** One decode step of one layer, as its batched selector planned it. */
export interface BatchedPlan {
  layout: DecodeLayout;
  /** positions chosen per query head (the `selected` buffer holds [B H, selected]) */
  selected: number;
  /** positions attended per query head: sinks + selected + the open window up to the current token */
  listLength: number;
  /** units per KV head the ranking chose among (clusters, pages, blocks); 0 for a method that ranks tokens */
  units: number;
  /** the dispatches that write `selected`, in order (none when selected is 0) */
  dispatches: BoundDispatch[];
}

/** A method's selection for one layer of B sequences, on the engine's buffers. */
export interface BatchedSelector {
  /**
   * The prompt is positions 0..P-1 of the layer's keys: read it (cluster, summarise, fit). Once, before the
   * first step; the engine waits for a returned promise (a fit on the host, as InfiniGen's).
   */
  prefill(prompt: number): void | Promise<void>;
  /**
   * Only on a selector calibrated on the prompt's queries (its form declares promptQueries): rows
   * start..start+n-1 of sequence `seq`'s prompt queries after RoPE, q [n, H, d] (the selector keeps a copy
   * until prefill), as the tfjs path's LayerSelector.prefill gets them. Handed before prefill().
   */
  promptQueries?(seq: number, start: number, rows: Float32Array): void;
  /**
   * Plans the step whose token sits at `position` (the keys hold 0..position when its dispatches run) under
   * `budget`, and returns its dispatches. Called once per step, positions ascending.
   */
  step(position: number, budget: number): BatchedPlan;
  dispose(): void;
}

/** A step's layout and how many positions it may select under `budget`, by the shared accounting (budget.ts). */
export function batchedLayout(position: number, prefillLength: number, params: ForcedSetParams, budget: number): { layout: DecodeLayout; chosen: number } {
  const layout = decodeLayout(position, prefillLength, params.sinks, params.window);
  return { layout, chosen: selectableBudget(budget, params.budgetMode, layout) };
}

/** The most positions a step's token list holds under `budget`: sinks, the budget, the open window and the current token. */
export function listCapacity(params: Pick<ForcedSetParams, 'sinks' | 'window'>, budget: number): number {
  return params.sinks + budget + params.window + 1;
}

/** The plan of a step that selects `selected` positions per query head with `dispatches`. */
export function batchedPlan(layout: DecodeLayout, selected: number, dispatches: BoundDispatch[], units = 0): BatchedPlan {
  return { layout, selected, listLength: forcedCount(layout) + selected, units, dispatches };
}

/** The prompt length of a batched selector that `prefill` set (-1 before); a step before it is an error. */
export function promptOf(prefillLength: number, method: string): number {
  if (prefillLength < 0) throw new Error(`batched ${method}: prefill() must run before a step`);
  return prefillLength;
}

/** Checks that prefill runs once. */
export function firstPrefill(prefillLength: number, method: string): void {
  if (prefillLength >= 0) throw new Error(`batched ${method}: prefill() called twice`);
}

/**
 * Parameters under which a method with a batched form runs on the reference path only: `params` says which
 * (one line, e.g. "query = 'speculated'", for `clusterkv methods`), `applies` tests a configuration, `reason` why.
 */
export interface ReferenceOnlyWhen<P> {
  readonly params: string;
  readonly reason: string;
  applies(params: P): boolean;
}

/** How the engine runs a method, declared with its definition (define.ts); P: the method's parameters. */
export type EngineForm<P> =
  | { readonly kind: 'dense' }
  | {
      readonly kind: 'batched';
      create(layer: BatchedLayer, params: P): BatchedSelector;
      /** the GPU bytes its selectors hold for a shape (SelectionBytes), declared with the form */
      bytes(shape: BatchedShape, params: P): SelectionBytes;
      /** its selectors take the prompt's queries (BatchedSelector.promptQueries): the engine hands them */
      readonly promptQueries?: boolean;
      /** parameters under which the method runs on the reference path only */
      readonly referenceOnlyWhen?: ReferenceOnlyWhen<P>;
    }
  | { readonly kind: 'reference'; readonly reason: string };

/** The shared budget parameters of a configured budgeted method (budget-params.ts), as the engine sizes and plans by them. */
export interface BatchedBudget extends ForcedSetParams {
  /** layers below this attend densely (the engine makes no selector for them) */
  denseLayers: number;
}

/** The engine form of a configured method (its parameters bound): what a Method carries. */
export type MethodEngine =
  | { readonly kind: 'dense' }
  | {
      readonly kind: 'batched';
      readonly budget: BatchedBudget;
      forLayer(layer: BatchedLayer): BatchedSelector;
      /** the GPU bytes its selectors hold for a shape (SelectionBytes) */
      bytes(shape: BatchedShape): SelectionBytes;
      readonly promptQueries: boolean;
    }
  | { readonly kind: 'reference'; readonly reason: string };

/** A method that runs on the reference path only, with the reason `clusterkv methods` shows. */
export function referenceOnly(reason: string): { readonly kind: 'reference'; readonly reason: string } {
  return { kind: 'reference', reason };
}

/** Why a method runs on the reference path only, or undefined when the engine runs it (or no form is given).
 *  By `in`, not by narrowing on `kind`: tslab compiles without strictNullChecks, where `!form || ...` does not narrow. */
export function referenceReason(form: { readonly kind: string } | undefined): string | undefined {
  return form && 'reason' in form ? String(form.reason) : undefined;
}

/** What the registry says of a definition that declares no engine form (a method of your own). */
export const UNDECLARED_ENGINE = referenceOnly('no batched form declared');
