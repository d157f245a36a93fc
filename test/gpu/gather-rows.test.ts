import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gatherRows } from '../../src/gpu/gather-rows.js';
import { LOCAL_BACKENDS, withBackend } from '../helpers/backend.js';
import { mulberry32 } from '../reference/metrics.js';

describe.each(LOCAL_BACKENDS)('gatherRows on %s', (backend) => {
  it('takes out[h, j] = x[h, idx[h, j]] at realistic sizes', async () => {
    await withBackend(backend, async () => {
      const rand = mulberry32(11);
      const R = 8;
      const C = 300;
      const n = 41;
      const x = Float32Array.from({ length: R * C }, () => rand());
      const idx = Int32Array.from({ length: R * n }, () => Math.floor(rand() * C));
      const got = tf.tidy(() => gatherRows(tf.tensor2d(x, [R, C]), tf.tensor2d(idx, [R, n], 'int32')).dataSync());
      const want = Array.from(idx, (c, i) => x[Math.floor(i / n) * C + c]);
      expect(Array.from(got)).toEqual(want);
    });
  });
});
