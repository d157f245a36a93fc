/**
 * InfiniGen's partial query kernel (src/gpu/wgsl/select/partial-query.ts) on the software WebGPU adapter:
 * q' = q M per query head against a plain-TS product and the tfjs form (partialQuery, infinigen-skewing.ts),
 * head dimensions a multiple of 4 and not, rows past one workgroup.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compileMessages } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { readBuffer, recordStep, storageBuffer, writeBuffer } from '../../../src/gpu/wgsl/runtime/step-recorder.js';
import { PartialQueryKernel, partialQueryShader } from '../../../src/gpu/wgsl/select/partial-query.js';
import { partialQuery } from '../../../src/sim/methods/infinigen-skewing.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { worstRelative } from '../../helpers/tensors.js';
import { normals } from '../../reference/clusterkv.js';

const skip = await softwareWebgpu();

/** out[r, j] = sum_i q[r, i] M_r[i, j], in plain TypeScript (f64 sums). */
function plainPartialQuery(q: Float32Array, map: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += q[r * d + i] * map[(r * d + i) * d + j];
      out[r * d + j] = acc;
    }
  }
  return out;
}

describe.skipIf(!!skip)('WGSL partial query (software WebGPU)', () => {
  it('compiles', async () => {
    for (const d of [6, 8, 64]) expect(await compileMessages(partialQueryShader(d))).toEqual([]);
  });

  it.each([
    { rows: 8, d: 8, seed: 1 },
    { rows: 5, d: 6, seed: 2 },
    { rows: 70, d: 8, seed: 3 },
  ])('equals the plain-TS product and tfjs partialQuery: $rows rows, d = $d', async ({ rows, d, seed }) => {
    const q = normals(rows * d, seed);
    const map = normals(rows * d * d, seed + 100);
    const buffers = { q: storageBuffer(q.byteLength), map: storageBuffer(map.byteLength), out: storageBuffer(q.byteLength) };
    const kernel = new PartialQueryKernel(rows, d, buffers, 'partial query test');
    try {
      writeBuffer(buffers.q, q);
      writeBuffer(buffers.map, map);
      recordStep([kernel.dispatch]);
      const got = new Float32Array(await readBuffer(buffers.out, q.byteLength));
      const want = plainPartialQuery(q, map, rows, d);
      expect(worstRelative(got, want)).toBeLessThan(1e-6);
      const viaTf = tf.tidy(() => partialQuery(tf.tensor2d(q, [rows, d]), tf.tensor3d(map, [rows, d, d])));
      expect(worstRelative(got, (await viaTf.data()) as Float32Array)).toBeLessThan(1e-6);
      viaTf.dispose();
    } finally {
      kernel.destroy();
      for (const b of Object.values(buffers)) b.destroy();
    }
  });
});
