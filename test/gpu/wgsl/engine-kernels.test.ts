/**
 * The decode engine's own WGSL kernels on the software WebGPU adapter against plain-TS references: GEMV in
 * every epilogue, batch 1, 3 and 8, several work splits (unrolled and not, rows not a multiple of the
 * workgroup's), GEMV with the RMSNorm prologue, RMSNorm, greedy argmax in two passes (ties to the lowest
 * index), the token list, and the seeded fills.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { argmaxChunks, argmaxMergeShader, argmaxPartialBytes, argmaxPartialShader, argmaxPartialWorkgroups } from '../../../src/gpu/wgsl/engine/argmax-token.js';
import { gemvPlan, gemvShader, gemvWorkgroups, type GemvTuning } from '../../../src/gpu/wgsl/engine/gemv.js';
import { rmsNormShader } from '../../../src/gpu/wgsl/engine/rms-norm.js';
import { bufferOf, compileMessages, deviceLimits, outputTensor, record } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { plantedKvShader, uniformFillShader } from '../../../src/gpu/wgsl/engine/seeded-fill.js';
import { tokenListShader } from '../../../src/gpu/wgsl/select/token-list.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { values, worstRelative } from '../../helpers/tensors.js';
import { normals } from '../../reference/clusterkv.js';
import { productReference } from '../../reference/products.js';

const skip = await softwareWebgpu();


describe.skipIf(!!skip)('e2e engine kernels (software WebGPU)', () => {
  it('compiles the GEMV variants', async () => {
    for (const epilogue of ['plain', 'residual', 'swiglu'] as const) {
      const shape = { rows: 64, cols: 512, batch: 8, epilogue };
      expect(await compileMessages(gemvShader(shape, gemvPlan(shape, { threadsPerRow: 64, rowsPerThread: 2, unroll: 2 })))).toEqual([]);
    }
  });

  it('GEMV equals the reference in every epilogue, batch 1, 3 and 8, unrolled or not, with ragged rows', async () => {
    const before = tf.memory().numTensors;
    const tunings: GemvTuning[] = [
      { threadsPerRow: 64, rowsPerThread: 4, unroll: 2 },
      { threadsPerRow: 32, rowsPerThread: 2, unroll: 4 },
      { threadsPerRow: 128, rowsPerThread: 1, unroll: 1 },
      { threadsPerRow: 256, rowsPerThread: 8, unroll: 1 },
    ];
    let seed = 1;
    for (const [rows, cols] of [[40, 1024], [38, 520]] as const) {
      for (const B of [1, 3, 8]) {
        for (const epilogue of ['plain', 'residual', 'swiglu'] as const) {
          // one work split per case, cycling (the full product compiles 72 shaders: too slow on llvmpipe)
          {
            const tuning = tunings[seed % tunings.length];
            const W = normals(rows * cols, seed++);
            const x = normals(B * cols, seed++);
            const res = epilogue === 'residual' ? normals(B * rows, seed++) : undefined;
            const shape = { rows, cols, batch: B, epilogue };
            const plan = gemvPlan(shape, tuning, deviceLimits().workgroupStorage);
            const [Wt, xt] = [tf.tensor2d(W, [rows, cols]), tf.tensor2d(x, [B, cols])];
            const rt = res ? tf.tensor2d(res, [B, rows]) : undefined;
            const out = outputTensor([B, epilogue === 'swiglu' ? rows / 2 : rows], 'float32');
            const buffers = [bufferOf(Wt, 'f32'), bufferOf(xt, 'f32'), ...(rt ? [bufferOf(rt, 'f32')] : []), out.buffer];
            record([{ code: gemvShader(shape, plan), uniforms: [rows], buffers, workgroups: [gemvWorkgroups(shape, plan)] }]);
            const got = await values(out.tensor);
            const want = productReference(W, x, res, rows, cols, B, epilogue);
            expect(worstRelative(got, want), `${rows}x${cols} B${B} ${epilogue} ${JSON.stringify(plan)}`).toBeLessThan(1e-4);
            tf.dispose([Wt, xt, rt].filter((t): t is tf.Tensor2D => !!t));
          }
        }
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('GEMV with the RMSNorm prologue equals the norm then the product, in every epilogue (bias too), batch 1, 3 and 8', async () => {
    const before = tf.memory().numTensors;
    const [rows, eps] = [24, 1e-5];
    let seed = 40;
    const unrolls = new Set<number>();
    // 520 columns: the guarded loop (130 vectors tile no unrolled step); 2048: the unrolled loop at every batch
    for (const cols of [520, 2048]) for (const B of [1, 3, 8]) {
      for (const epilogue of ['plain', 'bias', 'residual', 'swiglu'] as const) {
        const W = normals(rows * cols, seed++);
        const x = normals(B * cols, seed++).map((v, i) => v * (1 + (i % 7))); // rows of unequal scale
        const gain = normals(cols, seed++);
        const res = epilogue === 'residual' ? normals(B * rows, seed++) : epilogue === 'bias' ? normals(rows, seed++) : undefined;
        const shape = { rows, cols, batch: B, epilogue, norm: true };
        const plan = gemvPlan(shape, { threadsPerRow: B === 1 ? 256 : 32, rowsPerThread: 2, unroll: 2 }, deviceLimits().workgroupStorage);
        unrolls.add(plan.unroll);
        const [Wt, xt, gt] = [tf.tensor2d(W, [rows, cols]), tf.tensor2d(x, [B, cols]), tf.tensor1d(gain)];
        const rt = res ? tf.tensor(res) : undefined;
        const out = outputTensor([B, epilogue === 'swiglu' ? rows / 2 : rows], 'float32');
        const buffers = [bufferOf(Wt, 'f32'), bufferOf(xt, 'f32'), bufferOf(gt, 'f32'), ...(rt ? [bufferOf(rt, 'f32')] : []), out.buffer];
        record([{ code: gemvShader(shape, plan), uniforms: [rows, { f32: eps }], buffers, workgroups: [gemvWorkgroups(shape, plan)] }]);
        const normed: number[] = [];
        for (let b = 0; b < B; b++) {
          let ss = 0;
          for (let i = 0; i < cols; i++) ss += x[b * cols + i] ** 2;
          const scale = 1 / Math.sqrt(ss / cols + eps);
          for (let i = 0; i < cols; i++) normed.push(x[b * cols + i] * scale * gain[i]);
        }
        const want = productReference(W, normed, res, rows, cols, B, epilogue);
        expect(worstRelative(await values(out.tensor), want), `B${B} ${epilogue} ${JSON.stringify(plan)}`).toBeLessThan(1e-4);
        tf.dispose([Wt, xt, gt, rt].filter((t): t is tf.Tensor => !!t));
      }
    }
    expect([...unrolls].sort()).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('RMSNorm equals the reference', async () => {
    const [B, D] = [3, 520];
    const x = normals(B * D, 11);
    const gain = normals(D, 12);
    const [xt, gt] = [tf.tensor2d(x, [B, D]), tf.tensor1d(gain)];
    const out = outputTensor([B, D], 'float32');
    record([{ code: rmsNormShader(D), uniforms: [{ f32: 1e-5 }], buffers: [bufferOf(xt, 'f32'), bufferOf(gt, 'f32'), out.buffer], workgroups: [B] }]);
    const got = await values(out.tensor);
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      let ss = 0;
      for (let i = 0; i < D; i++) ss += x[b * D + i] ** 2;
      const scale = 1 / Math.sqrt(ss / D + 1e-5);
      for (let i = 0; i < D; i++) want.push(x[b * D + i] * scale * gain[i]);
    }
    expect(worstRelative(got, want)).toBeLessThan(1e-5);
    tf.dispose([xt, gt]);
  });

  it('argmax picks the largest logit, ties to the lowest index across chunks, and writes the history row', async () => {
    // 5000 logits: 3 chunks of the partial pass, the last one ragged
    const [B, V] = [4, 5000];
    expect(argmaxChunks(V)).toBe(3);
    const logits = normals(B * V, 13);
    logits[0 * V + 4500] = 9;
    logits[0 * V + 300] = 9; // tie across chunks: 300 wins
    logits[1 * V + 4999] = 9; // the last logit of the ragged chunk
    logits[2 * V + 0] = 9;
    logits[3 * V + 2048] = 9; // the first of the second chunk, tied with one later in it
    logits[3 * V + 2049] = 9;
    const lt = tf.tensor2d(logits, [B, V]);
    const partial = outputTensor([argmaxPartialBytes(V, B) / 4], 'int32');
    const tokens = outputTensor([B], 'int32');
    const history = outputTensor([4, B], 'int32');
    record([
      { code: argmaxPartialShader(), uniforms: [V, 2], buffers: [bufferOf(lt, 'f32'), partial.buffer], workgroups: argmaxPartialWorkgroups(V, B) },
      { code: argmaxMergeShader(B), uniforms: [V, 2], buffers: [partial.buffer, tokens.buffer, history.buffer], workgroups: [B] },
    ]);
    const want = [300, 4999, 0, 2048];
    expect(await values(tokens.tensor)).toEqual(want);
    expect((await values(history.tensor)).slice(2 * B, 3 * B)).toEqual(want);
    // and equal to tf.argMax on plain normals (no planted ties)
    const plain = tf.tensor2d(normals(B * V, 14), [B, V]);
    const tokens2 = outputTensor([B], 'int32');
    record([
      { code: argmaxPartialShader(), uniforms: [V, 0], buffers: [bufferOf(plain, 'f32'), partial.buffer], workgroups: argmaxPartialWorkgroups(V, B) },
      { code: argmaxMergeShader(B), uniforms: [V, 0], buffers: [partial.buffer, tokens2.buffer, history.buffer], workgroups: [B] },
    ]);
    expect(await values(tokens2.tensor)).toEqual(await values(tf.argMax(plain, 1)));
    tf.dispose([lt, plain, partial.tensor]);
  });

  it('the token list is sinks, then the selected positions, then the open window', async () => {
    const H = 3;
    const nSel = 4;
    const selected = Int32Array.from({ length: H * nSel }, (_, i) => 100 + i);
    const st = tf.tensor2d(selected, [H, nSel], 'int32');
    const total = 2 + nSel + 3;
    const list = outputTensor([H, total], 'int32');
    record([{ code: tokenListShader(H), uniforms: [nSel, 2, 50, total], buffers: [bufferOf(st, 'i32'), list.buffer], workgroups: [1] }]);
    const got = await values(list.tensor);
    for (let h = 0; h < H; h++) expect(got.slice(h * total, (h + 1) * total)).toEqual([0, 1, ...selected.slice(h * nSel, (h + 1) * nSel), 50, 51, 52]);
    st.dispose();
  });

  it('seeded fills: deterministic per seed, in range; planted KV fills only the prompt rows, around its centers', async () => {
    const fill = async (seed: number) => {
      const out = outputTensor([5000], 'float32');
      record([{ code: uniformFillShader(), uniforms: [5000, seed, { f32: 0.5 }, { f32: 2 }], buffers: [out.buffer], workgroups: [4] }]);
      return values(out.tensor);
    };
    const [a, b, c] = [await fill(1), await fill(1), await fill(2)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(1.5);
    expect(Math.max(...a)).toBeLessThan(2.5);
    expect(Math.abs(a.reduce((s, v) => s + v, 0) / a.length - 2)).toBeLessThan(0.02);
    // planted: 2 heads, 10 rows, prompt 6, 2 clusters, d 8; spread 0.01 so each key sits at one of 2 centers
    const [BG, T, P, d] = [2, 10, 6, 8];
    const keys = tf.zeros([BG, T, d]);
    const vals = tf.zeros([BG, T, d]);
    record([{ code: plantedKvShader(d), uniforms: [BG, T, P, 2, 5, { f32: 0.01 }], buffers: [bufferOf(keys, 'f32'), bufferOf(vals, 'f32')], workgroups: [2] }]);
    const k = await values(keys);
    const v = await values(vals);
    for (let g = 0; g < BG; g++) {
      const rowsOf = (src: number[], t: number) => src.slice((g * T + t) * d, (g * T + t + 1) * d);
      for (let t = P; t < T; t++) expect([...rowsOf(k, t), ...rowsOf(v, t)].every((x) => x === 0)).toBe(true);
      // every prompt key is within 0.01 per component of one of at most 2 distinct centers
      const centers: number[][] = [];
      for (let t = 0; t < P; t++) {
        const row = rowsOf(k, t);
        const near = centers.find((cen) => cen.every((x, i) => Math.abs(x - row[i]) <= 0.02));
        if (!near) centers.push(row);
        expect(rowsOf(v, t).every((x) => x >= -1 && x < 1)).toBe(true);
      }
      expect(centers.length).toBeLessThanOrEqual(2);
    }
  });
});
