/**
 * The Llama-family decoder forward pass on tfjs: RMSNorm, GQA attention with RoPE (through a pluggable
 * LayerAttention per layer), SwiGLU FFN, tied or untied output head.
 *
 * LlamaModel holds the weights and the per-layer pieces of the forward pass; a ModelSession holds one
 * sequence's state (KV caches, position). Several sessions can share one model (dense and sparse side by side).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerMemo } from '../sim/layer-memo.js';
import type { LayerInfo, Method } from '../sim/selector.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { DenseLayerAttention, SelectorLayerAttention, type LayerAttention, type SelectionObserver, type StepSelectionInfo } from './layer-attention.js';
import { applyRope, disposeRopeAngles, ropeAngles } from './rope.js';
import { disposeWeights, type LoadedModel, type ModelSource, type ModelWeights } from './weights.js';

/** 'dense', or a Method whose selectors choose each decode step's positions. */
export type AttentionChoice = 'dense' | Method;

/**
 * A prompt's per-layer cache after a dense prefill, from which several sessions continue (each with its own
 * copy): keys[l], values[l] are [G, length, d] post-RoPE keys and values of layer l.
 */
export interface PrefilledState {
  length: number;
  keys: tf.Tensor3D[];
  values: tf.Tensor3D[];
  /** queries[l]: [H, length, d] the prompt's post-RoPE queries of layer l, when the session kept them */
  queries?: tf.Tensor3D[];
}

export function disposePrefilledState(state: PrefilledState): void {
  tf.dispose([...state.keys, ...state.values, ...(state.queries ?? [])]);
}

export interface SessionOptions {
  /** sees every sparse decode step's selection, per layer */
  observer?: SelectionObserver;
  /**
   * per layer, a memo shared by sessions that continue from the same prefill (e.g. ClusterKV's K-means of
   * the prompt, computed once for every budget); the caller disposes them
   */
  memos?: readonly LayerMemo[];
  /**
   * a dense session keeps the prompt's queries for prefilledState() (methods calibrated on them, like
   * InfiniGen's skewing, get them as a prompt would give them); costs [H, P, d] per layer
   */
  keepPromptQueries?: boolean;
}

export interface QkvProjection {
  /** [n, H, d] post-RoPE queries */
  q: tf.Tensor3D;
  /** [n, G, d] post-RoPE keys */
  k: tf.Tensor3D;
  /** [n, G, d] values */
  v: tf.Tensor3D;
}

/** x m (+ b): x [n, in], m [in, out], b [out] -> [n, out]. */
function linear(x: tf.Tensor2D, m: tf.Tensor2D, b: tf.Tensor1D | undefined): tf.Tensor2D {
  return b ? tf.add(tf.matMul(x, m), b) : tf.matMul(x, m);
}

export class LlamaModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly source: ModelSource;

  constructor(loaded: LoadedModel) {
    this.config = loaded.config;
    this.weights = loaded.weights;
    this.source = loaded.source;
  }

  layerInfo(layer: number): LayerInfo {
    return { layer, heads: this.config.heads, kvHeads: this.config.kvHeads, headDim: this.config.headDim };
  }

  /** Token ids -> embeddings [n, dim]. */
  embed(tokens: ArrayLike<number>): tf.Tensor2D {
    const V = this.config.vocabSize;
    const ids = Int32Array.from(tokens);
    for (const id of ids) if (!(id >= 0 && id < V)) throw new ModelError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    return tf.tidy(() => tf.gather(this.weights.embedding, tf.tensor1d(ids, 'int32')) as tf.Tensor2D);
  }

  /** RMSNorm of x [n, dim] with gain [dim]. */
  rmsNorm(x: tf.Tensor2D, gain: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const ms = tf.mean(tf.square(x), 1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.config.normEps))), gain) as tf.Tensor2D;
    });
  }

  /** Layer x [n, dim] (the residual stream entering `layer`) at positions start..start+n-1 -> post-RoPE q, k and v of `layer`. */
  projectQkv(layer: number, x: tf.Tensor2D, start: number): QkvProjection {
    const { heads: H, kvHeads: G, headDim: d, ropeTheta } = this.config;
    const w = this.weights.layers[layer];
    const n = x.shape[0];
    const angles = ropeAngles(start, n, d, ropeTheta);
    try {
      return tf.tidy(() => {
        const xn = this.rmsNorm(x, w.attnNorm);
        const q = applyRope(tf.reshape(linear(xn, w.wq, w.bq), [n, H, d]) as tf.Tensor3D, angles);
        const k = applyRope(tf.reshape(linear(xn, w.wk, w.bk), [n, G, d]) as tf.Tensor3D, angles);
        const v = tf.reshape(linear(xn, w.wv, w.bv), [n, G, d]) as tf.Tensor3D;
        return { q, k, v };
      });
    } finally {
      disposeRopeAngles(angles);
    }
  }

  /**
   * InfiniGen's speculated query of `layer` (>= 1): [n, H, d] post-RoPE, layer's query weights (and bias)
   * applied to the previous layer's attention input, RMSNorm(previous, attnNorm of layer - 1), with RoPE at
   * positions start..start+n-1 as the real query gets it. previous: [n, dim] the residual stream entering
   * layer - 1, which InfiniGen has in hand one layer ahead (the inputs of consecutive layers are alike).
   */
  speculatedQuery(layer: number, previous: tf.Tensor2D, start: number): tf.Tensor3D {
    if (!(Number.isInteger(layer) && layer >= 1 && layer < this.config.layers)) throw new RangeError(`speculatedQuery: layer must be in 1..${this.config.layers - 1} (it reads the layer before), got ${layer}`);
    const { heads: H, headDim: d, ropeTheta } = this.config;
    const w = this.weights.layers[layer];
    const n = previous.shape[0];
    const angles = ropeAngles(start, n, d, ropeTheta);
    try {
      return tf.tidy(() => applyRope(tf.reshape(linear(this.rmsNorm(previous, this.weights.layers[layer - 1].attnNorm), w.wq, w.bq), [n, H, d]) as tf.Tensor3D, angles));
    } finally {
      disposeRopeAngles(angles);
    }
  }

  /** Residual x [n, dim] plus the attention output attn [n, H, d] through wo, then the FFN block. */
  finishLayer(layer: number, x: tf.Tensor2D, attn: tf.Tensor3D): tf.Tensor2D {
    const w = this.weights.layers[layer];
    return tf.tidy(() => {
      const n = x.shape[0];
      const h = tf.add(x, tf.matMul(tf.reshape(attn, [n, this.config.heads * this.config.headDim]), w.wo)) as tf.Tensor2D;
      const hn = this.rmsNorm(h, w.ffnNorm);
      const gate = tf.matMul(hn, w.w1);
      const up = tf.matMul(hn, w.w3);
      const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
      return tf.add(h, tf.matMul(act, w.w2)) as tf.Tensor2D;
    });
  }

  /** Final norm and output head: x [n, dim] -> logits [n, vocab]. */
  logits(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(this.rmsNorm(x, this.weights.finalNorm), this.weights.output));
  }

  /** A new sequence with the given decode attention. */
  session(attention: AttentionChoice = 'dense', options: SessionOptions = {}): ModelSession {
    return new ModelSession(this, attention, options);
  }

  /**
   * A session that continues after a prefilled prompt (no second prefill): every layer starts from its own
   * copy of the state's keys and values (a sparse method's selectors get them as their prompt).
   */
  sessionFrom(state: PrefilledState, attention: AttentionChoice = 'dense', options: SessionOptions = {}): ModelSession {
    const session = new ModelSession(this, attention, options);
    session.startFrom(state);
    return session;
  }

  dispose(): void {
    disposeWeights(this.weights);
  }
}

export class ModelSession {
  private readonly attention: LayerAttention[];
  /** positions processed so far (the next token sits at this position) */
  position = 0;

  constructor(
    readonly model: LlamaModel,
    readonly choice: AttentionChoice,
    options: SessionOptions = {},
  ) {
    const L = model.config.layers;
    if (options.memos && options.memos.length !== L) throw new RangeError(`memos: one per layer (${L}) expected, got ${options.memos.length}`);
    // from the second layer on, a sparse layer's selector may ask for InfiniGen's speculated query
    // (LayerInfo.speculatedQuery), which reads the previous layer's input that forward() hands attend()
    const speculate = (l: number) => (l >= 1 ? (previous: tf.Tensor2D, position: number) => tf.tidy(() => tf.squeeze(model.speculatedQuery(l, previous, position), [0]) as tf.Tensor2D) : undefined);
    this.attention = Array.from({ length: L }, (_, l) =>
      choice === 'dense' ? new DenseLayerAttention(options.keepPromptQueries) : new SelectorLayerAttention(choice, { ...model.layerInfo(l), memo: options.memos?.[l] }, options.observer, speculate(l)),
    );
  }

  /** Continues after a prefilled prompt: each layer takes a copy of its keys and values (a new session only). */
  startFrom(state: PrefilledState): void {
    if (this.position !== 0) throw new ModelError('startFrom needs a new session');
    if (state.keys.length !== this.attention.length) throw new ModelError(`the prefilled state has ${state.keys.length} layers, the model ${this.attention.length}`);
    this.attention.forEach((a, l) => (a instanceof SelectorLayerAttention ? a.startFrom(state.keys[l], state.values[l], state.queries?.[l]) : (a as DenseLayerAttention).startFrom(state.keys[l], state.values[l])));
    this.position = state.length;
  }

  /** A copy of the per-layer cache of a dense session (the caller disposes it, see disposePrefilledState). */
  prefilledState(): PrefilledState {
    if (this.choice !== 'dense') throw new ModelError('prefilledState() needs a dense session');
    const dense = this.attention as DenseLayerAttention[];
    const kv = dense.map((a) => a.kv());
    const queries = dense.map((a) => a.promptQueriesCopy());
    // Kept only when every layer has them; a plain boolean (not a type guard) because tslab's TS 5.0 narrows
    // the array to never in the negated branch.
    const present = queries.filter((q): q is tf.Tensor3D => q !== undefined);
    const all = present.length === queries.length;
    if (!all) tf.dispose(present);
    const kept = all ? { queries: present } : {};
    return { length: this.position, keys: kv.map((x) => x.keys), values: kv.map((x) => x.values), ...kept };
  }

  /**
   * Runs tokens at positions position..position+n-1 (a prompt: causal attention; with a sparse method, the
   * first call is the prefill and later multi-token calls are decoded token by token).
   * Returns logits [n, vocab], or [1, vocab] for the last token only when lastOnly. Nothing is read back to
   * the host (the caller reads what it needs, asynchronously). onLayer: after each layer (progress of a long prompt).
   */
  async forward(tokens: ArrayLike<number>, lastOnly = false, onLayer?: (done: number, layers: number) => void): Promise<tf.Tensor2D> {
    const n = tokens.length;
    if (n === 0) throw new ModelError('forward needs at least one token');
    let x = this.model.embed(tokens);
    /** the input of the layer before (for a speculated query), kept until this layer has attended */
    let previous: tf.Tensor2D | undefined;
    for (let l = 0; l < this.model.config.layers; l++) {
      const { q, k, v } = this.model.projectQkv(l, x, this.position);
      let attn: tf.Tensor3D;
      try {
        attn = await this.attention[l].attend(q, k, v, previous);
      } catch (err) {
        tf.dispose([q, k, v, x, ...(previous ? [previous] : [])]);
        throw err;
      }
      const next = this.model.finishLayer(l, x, attn);
      tf.dispose([q, k, v, attn, ...(previous ? [previous] : [])]);
      previous = x;
      x = next;
      onLayer?.(l + 1, this.model.config.layers);
    }
    previous?.dispose();
    this.position += n;
    const last = lastOnly && n > 1 ? tf.slice(x, [n - 1, 0], [1, x.shape[1]]) : x;
    const logits = this.model.logits(last);
    tf.dispose([x, last]);
    return logits;
  }

  /** One decode step: logits [vocab] of the token after `token`. */
  async step(token: number): Promise<tf.Tensor1D> {
    const logits = await this.forward([token]);
    const out = tf.reshape(logits, [logits.shape[1]]) as tf.Tensor1D;
    logits.dispose();
    return out;
  }

  /** What each layer's selector chose at the last decode step (sparse attention only). */
  lastSelections(): StepSelectionInfo[] {
    return this.attention.flatMap((a) => (a.lastSelection ? [a.lastSelection] : []));
  }

  dispose(): void {
    for (const a of this.attention) a.dispose();
  }
}
