/**
 * The attention seam of the model: every layer's attention goes through a LayerAttention, which also owns
 * the layer's KV cache. Prefill is always exact causal attention; decode steps are dense or go through a
 * Method's LayerSelector (src/sim/selector.ts), which chooses the positions each query head attends.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, LayerSelector, Method, Selection } from '../sim/selector.js';
import { causalAttention, type KvHeadCache } from './causal-attention.js';
import { sparseAttention } from '../gpu/attention.js';

/** What a sparse decode step chose, kept for reports (no tensors). */
export interface StepSelectionInfo {
  layer: number;
  /** positions attended per head: the slots of the selection, the largest head's count (others may have empty slots) */
  attended: number;
  selectedCount: number;
  stats?: Record<string, number>;
}

/**
 * What one decode step of a SelectorLayerAttention chose, shown to an observer (e.g. needle recall in the
 * passkey eval). Tensors are borrowed: valid during the call only, never disposed by the observer.
 */
export interface SelectionObservation {
  layer: number;
  /** the query's position (the cache holds positions 0..position) */
  position: number;
  /** [H, d] post-RoPE queries */
  q: tf.Tensor2D;
  /** [G, position + 1, d] every cached post-RoPE key */
  keys: tf.Tensor3D;
  /** [H, n] int32 positions each query head attends */
  tokens: tf.Tensor2D;
  /** true when tokens are every position 0..position (dense attention) */
  dense: boolean;
}

export type SelectionObserver = (observation: SelectionObservation) => Promise<void> | void;

/** previous [1, dim] (the residual stream entering the layer before, at one position) -> the speculated query [H, d] at `position`. */
export type QuerySpeculator = (previous: tf.Tensor2D, position: number) => tf.Tensor2D;

export interface LayerAttention {
  /** positions cached so far */
  readonly length: number;
  /**
   * Appends k, v [n, G, d] (post-RoPE) at positions length..length+n-1 and returns the attention output
   * [n, H, d] of q [n, H, d] at those positions. previous [n, dim]: the residual stream entering the layer
   * before (absent for the first layer), from which a selector may ask for a speculated query (borrowed).
   */
  attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, previous?: tf.Tensor2D): Promise<tf.Tensor3D>;
  /** the selection of the last decode step, if sparse */
  readonly lastSelection?: StepSelectionInfo;
  dispose(): void;
}

/** A growing per-KV-head cache: keys transposed [d, T] and values [T, d] per head. */
export class KvHeadCaches {
  heads: KvHeadCache[] = [];

  /** Appends k, v [n, G, d] (positions after the cached ones). */
  append(k: tf.Tensor3D, v: tf.Tensor3D): void {
    const [n, G, d] = k.shape;
    const next = tf.tidy(() => {
      const kT = tf.split(tf.transpose(k, [1, 2, 0]), G, 0).map((t) => tf.reshape(t, [d, n]) as tf.Tensor2D);
      const vs = tf.split(tf.transpose(v, [1, 0, 2]), G, 0).map((t) => tf.reshape(t, [n, d]) as tf.Tensor2D);
      return kT.map((keysT, g) => {
        const old = this.heads[g];
        return old
          ? { keysT: tf.concat([old.keysT, keysT], 1) as tf.Tensor2D, values: tf.concat([old.values, vs[g]], 0) as tf.Tensor2D }
          : { keysT, values: vs[g] };
      });
    });
    this.dispose();
    this.heads = next;
  }

  dispose(): void {
    for (const h of this.heads) tf.dispose([h.keysT, h.values]);
    this.heads = [];
  }
}

/** Appends [n, G, d] rows to a [G, T, d] cache, disposing the old one. */
function appendRows(cache: tf.Tensor3D | undefined, rows: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const add = tf.transpose(rows, [1, 0, 2]) as tf.Tensor3D;
    if (!cache) return add;
    const out = tf.concat([cache, add], 1) as tf.Tensor3D;
    cache.dispose();
    return out;
  });
}

/** Exact attention over every cached position. */
export class DenseLayerAttention implements LayerAttention {
  private readonly cache = new KvHeadCaches();
  length = 0;
  /** [H, P, d] the prompt's queries, kept when asked (methods calibrated on them, see LayerSelector.prefill) */
  private promptQueries?: tf.Tensor3D;

  /** keepPromptQueries: keep the first call's queries for promptQueriesCopy() */
  constructor(private readonly keepPromptQueries = false) {}

  async attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): Promise<tf.Tensor3D> {
    if (this.keepPromptQueries && this.length === 0) this.promptQueries = tf.keep(tf.transpose(q, [1, 0, 2]) as tf.Tensor3D);
    this.cache.append(k, v);
    const start = this.length;
    this.length += q.shape[0];
    return causalAttention(q, this.cache.heads, start);
  }

  /** A copy of the cache: keys and values [G, length, d] (the caller owns them). */
  kv(): { keys: tf.Tensor3D; values: tf.Tensor3D } {
    if (this.length === 0) throw new Error('DenseLayerAttention: nothing cached yet');
    return tf.tidy(() => ({
      keys: tf.stack(this.cache.heads.map((h) => tf.transpose(h.keysT))) as tf.Tensor3D,
      values: tf.stack(this.cache.heads.map((h) => h.values)) as tf.Tensor3D,
    }));
  }

  /** A copy of the prompt's queries [H, P, d] when kept (the caller owns it). */
  promptQueriesCopy(): tf.Tensor3D | undefined {
    return this.promptQueries ? tf.clone(this.promptQueries) : undefined;
  }

  /** Starts from cached keys and values [G, P, d] (borrowed) at positions 0..P-1, as if it had attended them. */
  startFrom(keys: tf.Tensor3D, values: tf.Tensor3D): void {
    if (this.length !== 0) throw new Error('DenseLayerAttention: startFrom() on a cache that is not empty');
    const [k, v] = tf.tidy(() => [tf.transpose(keys, [1, 0, 2]), tf.transpose(values, [1, 0, 2])] as tf.Tensor3D[]);
    this.cache.append(k, v);
    tf.dispose([k, v]);
    this.length = keys.shape[1];
  }

  dispose(): void {
    this.cache.dispose();
    this.promptQueries?.dispose();
    this.promptQueries = undefined;
  }
}

/**
 * Decode attention chosen by a Method's LayerSelector. The first call (the prompt) is exact causal
 * attention and hands the prompt's keys/values to selector.prefill; every later position is one decode
 * step: selector.step(q, kNew, vNew) names the positions, and attention is exact softmax over them.
 * Given a speculator, the selector's LayerInfo has speculatedQuery, which speculates the step's query from
 * the previous layer's input at that step (InfiniGen's speculation).
 */
export class SelectorLayerAttention implements LayerAttention {
  private keys?: tf.Tensor3D;
  private values?: tf.Tensor3D;
  private readonly selector: LayerSelector;
  length = 0;
  lastSelection?: StepSelectionInfo;
  /** [1, dim] the previous layer's input at the step being decoded (borrowed, during step() only) */
  private stepPrevious?: tf.Tensor2D;

  constructor(
    method: Method,
    private readonly info: LayerInfo,
    private readonly observer?: SelectionObserver,
    speculator?: QuerySpeculator,
  ) {
    const speculatedQuery = speculator
      ? () => {
          if (!this.stepPrevious) throw new Error(`layer ${info.layer}: speculatedQuery() outside a decode step, or no previous layer's input was handed`);
          return speculator(this.stepPrevious, this.length - 1);
        }
      : undefined;
    this.selector = method.forLayer(speculatedQuery ? { ...info, speculatedQuery } : info);
  }

  /**
   * Starts from a prompt's cached keys and values [G, P, d] (borrowed; e.g. a dense prefill shared by several
   * methods) instead of running the prompt: they go to selector.prefill as a prompt would, with the prompt's
   * queries [H, P, d] when the prefill kept them.
   */
  startFrom(keys: tf.Tensor3D, values: tf.Tensor3D, queries?: tf.Tensor3D): void {
    if (this.length !== 0) throw new Error('SelectorLayerAttention: startFrom() after the prompt');
    this.keys = tf.keep(tf.clone(keys));
    this.values = tf.keep(tf.clone(values));
    this.length = keys.shape[1];
    this.selector.prefill(this.keys, this.values, queries);
  }

  async attend(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, previous?: tf.Tensor2D): Promise<tf.Tensor3D> {
    if (this.length === 0) return this.prefill(q, k, v);
    const n = q.shape[0];
    if (n === 1) return this.step(q, k, v, previous);
    // later blocks are decoded one position at a time, as the selector sees them
    const outs: tf.Tensor3D[] = [];
    for (let i = 0; i < n; i++) {
      const [qi, ki, vi] = [q, k, v].map((t) => tf.slice(t, [i, 0, 0], [1, t.shape[1], t.shape[2]]) as tf.Tensor3D);
      const pi = previous ? (tf.slice(previous, [i, 0], [1, previous.shape[1]]) as tf.Tensor2D) : undefined;
      try {
        outs.push(await this.step(qi, ki, vi, pi));
      } finally {
        tf.dispose([qi, ki, vi, ...(pi ? [pi] : [])]);
      }
    }
    const out = tf.concat(outs, 0);
    tf.dispose(outs);
    return out;
  }

  private prefill(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
    this.keys = appendRows(undefined, k);
    this.values = appendRows(undefined, v);
    this.length = q.shape[0];
    const queries = tf.transpose(q, [1, 0, 2]) as tf.Tensor3D; // [H, P, d]
    try {
      this.selector.prefill(this.keys, this.values, queries);
    } finally {
      queries.dispose();
    }
    const perHead = new KvHeadCaches();
    perHead.append(k, v);
    const out = causalAttention(q, perHead.heads, 0);
    perHead.dispose();
    return out;
  }

  /** previous [1, dim]: the previous layer's input at this position (for LayerInfo.speculatedQuery) */
  private async step(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, previous?: tf.Tensor2D): Promise<tf.Tensor3D> {
    this.keys = appendRows(this.keys, k);
    this.values = appendRows(this.values, v);
    this.length += 1;
    const { heads: H, headDim: d } = this.info;
    const q2 = tf.reshape(q, [H, d]) as tf.Tensor2D;
    const kNew = tf.transpose(k, [1, 0, 2]) as tf.Tensor3D;
    const vNew = tf.transpose(v, [1, 0, 2]) as tf.Tensor3D;
    let selection: Selection | undefined;
    this.stepPrevious = previous;
    try {
      selection = await this.selector.step(q2, kNew, vNew);
      this.lastSelection = {
        layer: this.info.layer,
        attended: selection.tokens.shape[1],
        selectedCount: selection.selectedCount,
        stats: selection.stats,
      };
      await this.observer?.({ layer: this.info.layer, position: this.length - 1, q: q2, keys: this.keys, tokens: selection.tokens, dense: selection.dense === true });
      const out = sparseAttention(q2, this.keys, this.values, selection.tokens);
      const out3 = tf.reshape(out, [1, H, d]) as tf.Tensor3D;
      out.dispose();
      return out3;
    } finally {
      this.stepPrevious = undefined;
      tf.dispose([q2, kNew, vNew]);
      if (selection) tf.dispose(selection.tokens);
    }
  }

  dispose(): void {
    this.selector.dispose();
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = this.values = undefined;
  }
}
