// Sharing a layer's K-means across the cells of a replay (LayerMemo) changes run time only: a replay of
// several ClusterKV budgets together gives the rows of replaying each budget alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMethod } from '../../src/sim/methods/index.js';
import { replayTrace } from '../../src/sim/replay.js';
import { TraceReader, writeSyntheticTrace } from '../../src/trace/index.js';
import { withBackend } from '../helpers/backend.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ckv-memo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('K-means shared across budgets in a replay', () => {
  it('gives the same rows as separate replays, without leaking', async () => {
    await withBackend('wasm', async () => {
      const file = path.join(dir, 't.safetensors');
      await writeSyntheticTrace(file, { layers: 3, heads: 4, kvHeads: 2, headDim: 16, context: 700, steps: 4, seed: 3, dtype: 'F32' });
      const reader = await TraceReader.open(file);
      const make = (budget: number) => createMethod('clusterkv', { budget, tokensPerCluster: 40, iters: 6, window: 2, windowClusters: 1 });
      const before = tf.memory().numTensors;
      const together = await replayTrace(reader, [make(32), make(128)]);
      const alone = [...(await replayTrace(reader, [make(32)])), ...(await replayTrace(reader, [make(128)]))];
      expect(tf.memory().numTensors).toBe(before);
      const key = (r: Record<string, unknown>) => `${r.budget}|${r.layer}|${r.head}|${r.step}`;
      const byKey = new Map(alone.map((r) => [key(r), r]));
      expect(together.length).toBe(alone.length);
      for (const r of together) {
        const a = byKey.get(key(r))!;
        for (const m of ['massRecall', 'topkRecall', 'outputRelError', 'tokensAttended', 'clustersTouched', 'indexClusters'] as const) expect(r[m]).toBe(a[m]);
      }
    });
  });
});

describe('K-means shared across cluster scorings', () => {
  it('centroid and bound selectors of a layer cluster the keys once (the boxes come from the shared labels)', async () => {
    await withBackend('wasm', async () => {
      const { LayerMemo } = await import('../../src/sim/layer-memo.js');
      const info = { layer: 2, heads: 4, kvHeads: 2, headDim: 16 };
      const keys = tf.randomNormal([2, 200, 16], 0, 1, 'float32', 7) as tf.Tensor3D;
      const memo = new LayerMemo();
      const make = (scoring: string) => createMethod('clusterkv', { budget: 32, tokensPerCluster: 40, iters: 3, scoring }).forLayer({ ...info, memo });
      const [centroid, bound] = [make('centroid'), make('bound')];
      centroid.prefill(keys, keys);
      expect(memo.size).toBe(1); // the prompt's K-means
      bound.prefill(keys, keys);
      expect(memo.size).toBe(2); // the same K-means, and the boxes of its clusters
      for (const s of [centroid, bound]) s.dispose();
      memo.dispose();
      keys.dispose();
    });
  });
});
