/**
 * The decode engine's weights as GPU buffers on tfjs's WebGPU device, laid out for its kernels:
 *   wqkv  [(H + 2G) d, dim]   rows of wq, then wk, then wv (one product per layer for all three)
 *   wo    [dim, H d]
 *   w13   [2 hidden, dim]     gate and up rows interleaved (row 2j gate j, 2j + 1 up j: gemv.ts's swiglu)
 *   w2    [dim, hidden]
 *   output [vocab, dim], embedding [vocab, dim], gains [dim]
 * i.e. every matrix [out, in] (src/model keeps [in, out] for tfjs's matMul).
 *
 * Two sources: seeded random weights generated on the device (benchmarks: 29 GB at Llama-3-8B's shape are
 * never uploaded), or a loaded LlamaModel (tests: the same weights as the tfjs forward pass).
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferOf, storageReady } from '../../gpu/wgsl/runtime/runtime.js';
import { FILL_GROUPS, uniformFillShader } from '../../gpu/wgsl/engine/seeded-fill.js';
import { bindDispatch, recordStep, storageBuffer, UniformBlock } from '../../gpu/wgsl/runtime/step-recorder.js';
import type { LlamaModel } from '../transformer.js';
import { qkvRows, type EngineShape } from './shape.js';

export interface EngineLayerWeights {
  attnNorm: GPUBuffer;
  wqkv: GPUBuffer;
  wo: GPUBuffer;
  ffnNorm: GPUBuffer;
  w13: GPUBuffer;
  w2: GPUBuffer;
}

export interface EngineWeights {
  shape: EngineShape;
  embedding: GPUBuffer;
  layers: EngineLayerWeights[];
  finalNorm: GPUBuffer;
  output: GPUBuffer;
  /** how they were made, for reports */
  source: string;
  dispose(): void;
}

interface Fill {
  buffer: GPUBuffer;
  count: number;
  /** uniform in [offset - scale, offset + scale) */
  scale: number;
  offset: number;
}

/**
 * Seeded random weights made on the device: matrices uniform with variance 1 / in (so activations keep
 * their scale through the layers), gains 1, embedding uniform in [-1, 1).
 */
export function randomEngineWeights(shape: EngineShape, seed: number): EngineWeights {
  const { dim, hiddenDim, heads, headDim, vocabSize } = shape;
  const fills: Fill[] = [];
  const matrix = (rows: number, cols: number, label: string): GPUBuffer => {
    const buffer = storageBuffer(rows * cols * 4, label);
    fills.push({ buffer, count: rows * cols, scale: Math.sqrt(3 / cols), offset: 0 });
    return buffer;
  };
  const gain = (label: string): GPUBuffer => {
    const buffer = storageBuffer(dim * 4, label);
    fills.push({ buffer, count: dim, scale: 0, offset: 1 });
    return buffer;
  };
  const embedding = storageBuffer(vocabSize * dim * 4, 'embedding');
  fills.push({ buffer: embedding, count: vocabSize * dim, scale: 1, offset: 0 });
  const layers = Array.from({ length: shape.layers }, (_, l) => ({
    attnNorm: gain(`l${l}.attnNorm`),
    wqkv: matrix(qkvRows(shape), dim, `l${l}.wqkv`),
    wo: matrix(dim, heads * headDim, `l${l}.wo`),
    ffnNorm: gain(`l${l}.ffnNorm`),
    w13: matrix(2 * hiddenDim, dim, `l${l}.w13`),
    w2: matrix(dim, hiddenDim, `l${l}.w2`),
  }));
  const finalNorm = gain('finalNorm');
  const output = matrix(vocabSize, dim, 'output');
  const code = uniformFillShader();
  const blocks = fills.map((f, i) => new UniformBlock([f.count, (seed * 7919 + i * 104729) >>> 0, { f32: f.scale }, { f32: f.offset }]));
  recordStep(fills.map((f, i) => bindDispatch(code, blocks[i], [f.buffer], [Math.min(FILL_GROUPS, Math.ceil(f.count / 256))], 'init', `fill ${f.buffer.label}`)));
  for (const b of blocks) b.destroy();
  const all = [embedding, finalNorm, output, ...layers.flatMap((l) => Object.values(l))];
  return { shape, embedding, layers, finalNorm, output, source: `seeded random (seed ${seed}), made on the device`, dispose: () => all.forEach((b) => b.destroy()) };
}

/**
 * The weights of a loaded model, rearranged with tfjs ops on the webgpu backend (the tensors stay alive
 * until dispose). Biases (Qwen2) are not supported by the engine.
 */
export function engineWeightsFromModel(model: LlamaModel, shape: EngineShape): EngineWeights {
  const w = model.weights;
  if (w.layers.some((l) => l.bq || l.bk || l.bv)) throw new RangeError('decode engine: q/k/v biases (Qwen2) are not supported');
  const kept: tf.Tensor[] = [];
  const buffer = (make: () => tf.Tensor): GPUBuffer => {
    const t = tf.tidy(make);
    const r = storageReady(t, 'f32');
    kept.push(t);
    if (r.owned) kept.push(r.owned);
    return bufferOf(r.tensor, 'f32');
  };
  const layers = w.layers.map((l) => ({
    attnNorm: buffer(() => tf.clone(l.attnNorm)),
    wqkv: buffer(() => tf.concat([tf.transpose(l.wq), tf.transpose(l.wk), tf.transpose(l.wv)], 0)),
    wo: buffer(() => tf.transpose(l.wo)),
    ffnNorm: buffer(() => tf.clone(l.ffnNorm)),
    w13: buffer(() => tf.reshape(tf.stack([tf.transpose(l.w1), tf.transpose(l.w3)], 1), [2 * shape.hiddenDim, shape.dim])),
    w2: buffer(() => tf.transpose(l.w2)),
  }));
  return {
    shape,
    embedding: buffer(() => tf.clone(w.embedding)),
    layers,
    finalNorm: buffer(() => tf.clone(w.finalNorm)),
    output: buffer(() => tf.transpose(w.output)),
    source: `${model.source.format} ${model.source.name}`,
    dispose: () => tf.dispose(kept),
  };
}
