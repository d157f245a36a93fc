/** A 500-step decode soak through ClusterKV (issue 12 ran 10,000 once, with a script since removed: git log -- bench/soak.ts): no tensor leaks, linear memory. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { loadModel } from '../../src/model/load.js';
import { decodeSoak } from '../../src/model/soak.js';
import type { LlamaModel } from '../../src/model/transformer.js';
import { createMethod } from '../../src/sim/methods/index.js';

describe('decode soak (wasm)', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    await useBackend('wasm');
    model = await loadModel(path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K', 'stories260K.bin'));
  });
  afterAll(() => model.dispose());

  it('keeps the tensor count constant and grows bytes by the same amount every decode window over 500 steps', async () => {
    const window = 50;
    const method = createMethod('clusterkv', { budget: 48, sinks: 4, window, windowClusters: 4, tokensPerCluster: 16, iters: 3, denseLayers: 1 });
    const r = await decodeSoak(model, method, [1], 500, window);
    expect(r.samples).toHaveLength(10);
    expect(r.tensorCounts).toHaveLength(1);
    // the KV caches and the index grow with the context: the same number of bytes per window, and more than 0
    expect(new Set(r.byteIncrements).size).toBe(1);
    expect(r.byteIncrements[0]).toBeGreaterThan(0);
  });
});
