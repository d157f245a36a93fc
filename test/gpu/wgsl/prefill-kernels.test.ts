/**
 * The engine's prefill kernels and f16 storage on the software WebGPU adapter, against plain-TS references:
 * GEMM in every epilogue with ragged rows, tokens and columns, f32 and f16 weights; GEMV over f16 weights;
 * causal prefill attention over a cache holding earlier rows (GQA, f32 and f16 K/V, a second sequence);
 * the prefill RoPE/append writing f16 pairs rounded as the host rounds them; the f16 fills and row unpacking.
 * f16 inputs are compared with references on the same rounded values, so only the summation order differs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { prefillAttentionShader, prefillAttentionWorkgroups, prefillQueryBlock } from '../../../src/gpu/wgsl/attention/prefill-attention.js';
import { gemmShader, gemmWorkgroups } from '../../../src/gpu/wgsl/engine/gemm.js';
import { gemvPlan, gemvShader, gemvWorkgroups } from '../../../src/gpu/wgsl/engine/gemv.js';
import { ropeKvAppendShader, ropeKvAppendWorkgroups } from '../../../src/gpu/wgsl/engine/rope-kv-append.js';
import { uniformFillShader } from '../../../src/gpu/wgsl/engine/seeded-fill.js';
import { halfRead, unpackRowsShader, type StorageDType } from '../../../src/gpu/wgsl/engine/storage-dtype.js';
import { bufferOf, compileMessages, deviceLimits, outputTensor, record } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { decodeFloat16, encodeFloat16, roundToFloat16 } from '../../../src/trace/float16.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { values, worstRelative } from '../../helpers/tensors.js';
import { causalAttentionReference } from '../../reference/causal-attention.js';
import { normals } from '../../reference/clusterkv.js';
import { productReference } from '../../reference/products.js';

const skip = await softwareWebgpu();

/** A buffer of `data` stored as dtype: f32 as is, f16 as u32 pairs (host rounding). */
function stored(data: Float32Array, dtype: StorageDType): tf.Tensor {
  if (dtype === 'f32') return tf.tensor1d(data);
  const bits = encodeFloat16(data);
  return tf.tensor1d(new Int32Array(bits.buffer, 0, bits.length / 2), 'int32');
}

function bufferOfStored(t: tf.Tensor): GPUBuffer {
  return bufferOf(t, t.dtype === 'int32' ? 'i32' : 'f32');
}

describe.skipIf(!!skip)('prefill kernels and f16 storage (software WebGPU)', () => {
  it('compiles the GEMM and prefill attention variants', async () => {
    for (const weights of ['f32', 'f16'] as const) {
      for (const epilogue of ['plain', 'bias', 'residual', 'swiglu'] as const) {
        expect(await compileMessages(gemmShader({ rows: 64, cols: 96, epilogue, weights, halfRead: halfRead() }))).toEqual([]);
      }
      expect(await compileMessages(prefillAttentionShader({ heads: 8, kvHeads: 2, headDim: 128, kv: weights, halfRead: halfRead(), queryBlock: prefillQueryBlock(128) }))).toEqual([]);
    }
  });

  it('GEMM equals the reference in every epilogue with ragged tokens, rows and columns, f32 and f16 weights', async () => {
    const before = tf.memory().numTensors;
    let seed = 100;
    for (const [n, rows, cols] of [[70, 70, 52], [3, 130, 16]] as const) {
      for (const weights of ['f32', 'f16'] as const) {
        for (const epilogue of ['plain', 'bias', 'residual', 'swiglu'] as const) {
          const W = normals(rows * cols, seed++);
          const X = normals(n * cols, seed++);
          const extra = epilogue === 'residual' ? normals(n * rows, seed++) : epilogue === 'bias' ? normals(rows, seed++) : undefined;
          const Wt = stored(W, weights);
          const Xt = tf.tensor1d(X);
          const Et = extra ? tf.tensor1d(extra) : undefined;
          const out = outputTensor([epilogue === 'swiglu' ? (n * rows) / 2 : n * rows], 'float32');
          const shape = { rows, cols, epilogue, weights, halfRead: halfRead() };
          record([{ code: gemmShader(shape), uniforms: [n], buffers: [bufferOfStored(Wt), bufferOf(Xt, 'f32'), ...(Et ? [bufferOf(Et, 'f32')] : []), out.buffer], workgroups: gemmWorkgroups(shape, n) }]);
          const got = await values(out.tensor);
          const want = productReference(weights === 'f16' ? roundToFloat16(W) : W, X, extra, rows, cols, n, epilogue);
          expect(worstRelative(got, want), `n ${n} ${rows}x${cols} ${weights} ${epilogue}`).toBeLessThan(1e-4);
          tf.dispose([Wt, Xt, ...(Et ? [Et] : [])]);
        }
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('GEMV over f16 weights equals the reference on the rounded weights (batch 1 and 3)', async () => {
    const [rows, cols] = [38, 520];
    for (const B of [1, 3]) {
      for (const epilogue of ['plain', 'bias', 'swiglu'] as const) {
        const W = normals(rows * cols, 7 + B);
        const x = normals(B * cols, 9 + B);
        const bias = epilogue === 'bias' ? normals(rows, 11) : undefined;
        const shape = { rows, cols, batch: B, epilogue, weights: 'f16' as const, halfRead: halfRead() };
        const plan = gemvPlan(shape, { threadsPerRow: 64, rowsPerThread: 2, unroll: 2 }, deviceLimits().workgroupStorage);
        const Wt = stored(W, 'f16');
        const xt = tf.tensor1d(x);
        const bt = bias ? tf.tensor1d(bias) : undefined;
        const out = outputTensor([B * (epilogue === 'swiglu' ? rows / 2 : rows)], 'float32');
        record([{ code: gemvShader(shape, plan), uniforms: [rows], buffers: [bufferOfStored(Wt), bufferOf(xt, 'f32'), ...(bt ? [bufferOf(bt, 'f32')] : []), out.buffer], workgroups: [gemvWorkgroups(shape, plan)] }]);
        const got = await values(out.tensor);
        expect(worstRelative(got, productReference(roundToFloat16(W), x, bias, rows, cols, B, epilogue)), `B ${B} ${epilogue}`).toBeLessThan(1e-4);
        tf.dispose([Wt, xt, ...(bt ? [bt] : [])]);
      }
    }
  });

  it('prefill attention: queries at positions p0.. attend the cache rows 0..p0+i of their sequence (GQA, f32 and f16 K/V, every query block)', async () => {
    const before = tf.memory().numTensors;
    for (const [H, G, d, BQ] of [[6, 2, 16, 32], [4, 4, 8, 32], [6, 2, 16, 16], [6, 2, 16, 8], [4, 4, 8, 4]] as const) {
      for (const kv of ['f32', 'f16'] as const) {
        const [B, T, p0, n, seq] = [2, 80, 21, 37, 1];
        const q = normals(n * H * d, 31);
        const keys = normals(B * G * T * d, 32);
        const vals = normals(B * G * T * d, 33);
        const kt = stored(keys, kv);
        const vt = stored(vals, kv);
        const qt = tf.tensor1d(q);
        const out = outputTensor([n * H * d], 'float32');
        const shape = { heads: H, kvHeads: G, headDim: d, kv, halfRead: halfRead(), queryBlock: BQ };
        record([{ code: prefillAttentionShader(shape), uniforms: [n, p0, seq, T, { f32: 1 / Math.sqrt(d) }], buffers: [bufferOf(qt, 'f32'), bufferOfStored(kt), bufferOfStored(vt), out.buffer], workgroups: prefillAttentionWorkgroups(n, H, BQ) }]);
        const got = await values(out.tensor);
        const seqRows = (x: Float32Array) => {
          const r = kv === 'f16' ? roundToFloat16(x) : x;
          return r.subarray(seq * G * T * d, (seq + 1) * G * T * d);
        };
        const want = causalAttentionReference(q, seqRows(keys), seqRows(vals), (t, g) => (g * T + t) * d, n, H, G, d, p0);
        expect(worstRelative(got, want), `H ${H} G ${G} d ${d} BQ ${BQ} ${kv}`).toBeLessThan(1e-4);
        tf.dispose([kt, vt, qt]);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('prefill RoPE/append writes rows p0.. of its sequence, f16 pairs rounded as the host rounds them, and leaves other rows alone', async () => {
    const [H, G, d, T, p0, n, seq] = [2, 1, 8, 12, 3, 5, 1];
    const slots = H + 2 * G;
    const qkv = normals(n * slots * d, 41);
    const rope = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d / 2; k++) {
      rope[i * d + 2 * k] = Math.cos((p0 + i) * 0.1 * (k + 1));
      rope[i * d + 2 * k + 1] = Math.sin((p0 + i) * 0.1 * (k + 1));
    }
    const [qt, rt] = [tf.tensor1d(qkv), tf.tensor1d(rope)];
    const qOut = outputTensor([n * H * d], 'float32');
    const keys = tf.zeros([2 * G * T * d / 2], 'int32');
    const vals = tf.zeros([2 * G * T * d / 2], 'int32');
    record([{ code: ropeKvAppendShader(0, H, G, d, 'f16', 'prefill'), uniforms: [p0, T, seq, n], buffers: [bufferOf(qt, 'f32'), bufferOf(rt, 'f32'), qOut.buffer, bufferOf(keys, 'i32'), bufferOf(vals, 'i32')], workgroups: ropeKvAppendWorkgroups(n, H, G, d) }]);
    const k16 = decodeFloat16(new Uint16Array(Int32Array.from(await values(keys)).buffer));
    const v16 = decodeFloat16(new Uint16Array(Int32Array.from(await values(vals)).buffer));
    const wantK = new Float32Array(2 * G * T * d);
    const wantV = new Float32Array(2 * G * T * d);
    for (let i = 0; i < n; i++) for (let g = 0; g < G; g++) for (let k = 0; k < d / 2; k++) {
      const src = (i * slots + H + g) * d + 2 * k;
      const [c, s] = [rope[i * d + 2 * k], rope[i * d + 2 * k + 1]];
      const at = ((seq * G + g) * T + p0 + i) * d + 2 * k;
      wantK[at] = Math.fround(Math.fround(qkv[src] * c) - Math.fround(qkv[src + 1] * s));
      wantK[at + 1] = Math.fround(Math.fround(qkv[src + 1] * c) + Math.fround(qkv[src] * s));
      const vs = (i * slots + H + G + g) * d + 2 * k;
      wantV[at] = qkv[vs];
      wantV[at + 1] = qkv[vs + 1];
    }
    // values are copied, so their rounding is exactly the host's; keys within one f16 step of the host's rotation
    expect(Array.from(v16)).toEqual(Array.from(roundToFloat16(wantV)));
    expect(worstRelative(k16, roundToFloat16(wantK))).toBeLessThan(2e-3);
    tf.dispose([qt, rt, qOut.tensor]);
  });

  it('f16 fills are the f32 fills rounded; unpacking rows widens them exactly', async () => {
    const count = 4096;
    const fill = async (dtype: StorageDType) => {
      const out = outputTensor([dtype === 'f32' ? count : count / 2], dtype === 'f32' ? 'float32' : 'int32');
      record([{ code: uniformFillShader(dtype), uniforms: [count, 3, { f32: 0.7 }, { f32: 0.1 }], buffers: [out.buffer], workgroups: [4] }]);
      return values(out.tensor);
    };
    const f32 = Float32Array.from(await fill('f32'));
    const packed = Int32Array.from(await fill('f16'));
    expect(Array.from(new Uint16Array(packed.buffer))).toEqual(Array.from(encodeFloat16(f32)));
    // rows 2..5 of 4 heads [heads, T = 8, d = 128] of the packed values
    const [heads, T, d, start, n] = [4, 8, 128, 2, 4];
    const pt = tf.tensor1d(packed, 'int32');
    const out = outputTensor([heads * n * d], 'float32');
    record([{ code: unpackRowsShader(heads, d), uniforms: [T, start, n], buffers: [bufferOf(pt, 'i32'), out.buffer], workgroups: [Math.ceil((heads * n * d) / 2 / 256)] }]);
    const got = await values(out.tensor);
    const all = decodeFloat16(new Uint16Array(packed.buffer));
    const want: number[] = [];
    for (let h = 0; h < heads; h++) want.push(...all.subarray((h * T + start) * d, (h * T + start + n) * d));
    expect(got).toEqual(want);
    pt.dispose();
  });
});
