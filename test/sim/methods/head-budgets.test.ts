// Per-head budgets: a ranking cut at the largest head's count and then at each head's own is the ranking cut
// at that head's count alone (tokens and the units behind them), which is what the top-p wrapper's 'head' mode
// relies on.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildClusterIndex, disposeClusterIndex } from '../../../src/gpu/cluster-index.js';
import { disposeClusterSelection, readClusterChoiceAsync, selectClusters } from '../../../src/gpu/selection.js';
import { topByScores } from '../../../src/sim/methods/baseline.js';
import { emptyBeyond, resolveBudget, spentBudgetStats, trimClusterChoice } from '../../../src/sim/methods/head-budgets.js';
import { LOCAL_BACKENDS, withBackend } from '../../helpers/backend.js';
import { normals, rng } from '../../reference/clusterkv.js';

describe('per-head budgets', () => {
  it('resolve to slots and per-head counts; equal counts are one count', () => {
    expect(resolveBudget(7)).toEqual({ slots: 7, perHead: null });
    expect(resolveBudget(Int32Array.from([3, 3]))).toEqual({ slots: 3, perHead: null });
    expect(resolveBudget(Int32Array.from([3, 0, 5]))).toEqual({ slots: 5, perHead: Int32Array.from([3, 0, 5]) });
    expect(spentBudgetStats(4, undefined)).toEqual({ selectedTokens: 4, selectedTokensMin: 4, selectedTokensMax: 4 });
    expect(spentBudgetStats(5, Int32Array.from([3, 0, 5, 4]))).toEqual({ selectedTokens: 3, selectedTokensMin: 0, selectedTokensMax: 5 });
  });
});

describe.each(LOCAL_BACKENDS)('per-head cuts of a ranking on %s', (backend) => {
  it('emptyBeyond empties each head\'s slots past its count', async () => {
    await withBackend(backend, async () => {
      const ranked = tf.tensor2d([[9, 8, 7], [6, 5, 4]], [2, 3], 'int32');
      const cut = emptyBeyond(ranked, Int32Array.from([1, 3]));
      expect(await cut.array()).toEqual([[9, -1, -1], [6, 5, 4]]);
      tf.dispose([ranked, cut]);
    });
  });

  it('topByScores: each head its own top b_h in slots of the largest, the rest empty', async () => {
    await withBackend(backend, async () => {
      const scores = tf.tensor2d([[0.1, 0.9, 0.5, 0.3], [0.8, 0.2, 0.7, 0.6]]);
      const uniform = topByScores(scores, 2, 10);
      const perHead = topByScores(scores, Int32Array.from([1, 3]), 10);
      expect(uniform.selectedCount).toBe(2);
      expect(uniform.selectedPerHead).toBeUndefined();
      expect(((await uniform.chosen!.array()) as number[][]).map((r) => [...r].sort())).toEqual([[11, 12], [10, 12]]);
      expect(perHead.selectedCount).toBe(3);
      expect(Array.from(perHead.selectedPerHead!)).toEqual([1, 3]);
      expect(await perHead.chosen!.array()).toEqual([[11, -1, -1], [10, 12, 13]]);
      expect(topByScores(scores, Int32Array.from([0, 0]), 0).chosen).toBeNull();
      tf.dispose([scores, uniform.chosen!, perHead.chosen!]);
    });
  });

  it('a cluster ranking cut at the largest count, then per head, is the ranking cut at each head\'s count (tokens and units)', async () => {
    await withBackend(backend, async () => {
      const [H, G, K, N, d] = [6, 2, 12, 300, 8];
      const r = rng(21);
      const labels = tf.tensor2d(Int32Array.from({ length: G * N }, () => Math.floor(r() * K)), [G, N], 'int32');
      const index = buildClusterIndex(labels, K);
      const [q, centroids] = [tf.tensor2d(normals(H * d, 22), [H, d]), tf.tensor3d(normals(G * K * d, 23), [G, K, d])];
      // counts cutting inside clusters, at a cluster's end (0) and the largest
      const counts = Int32Array.from([0, 1, 37, 90, 64, 120]);
      const wide = selectClusters(q, centroids, index, 120);
      const cut = emptyBeyond(wide.tokens, counts);
      const got = (await cut.array()) as number[][];
      const trimmed = trimClusterChoice(await readClusterChoiceAsync(wide), counts);
      for (let h = 0; h < H; h++) {
        const alone = selectClusters(q, centroids, index, counts[h]);
        const want = (await alone.tokens.array()) as number[][];
        expect(got[h].slice(0, counts[h])).toEqual(counts[h] > 0 ? want[h] : []); // a [H, 0] tensor reads as []
        expect(got[h].slice(counts[h]).every((t) => t === -1)).toBe(true);
        const choice = await readClusterChoiceAsync(alone);
        expect(Array.from(trimmed.ids[h])).toEqual(Array.from(choice.ids[h]));
        expect(Array.from(trimmed.sizes[h])).toEqual(Array.from(choice.sizes[h]));
        expect(Array.from(trimmed.taken[h])).toEqual(Array.from(choice.taken[h]));
        disposeClusterSelection(alone);
      }
      expect(trimmed.clustersTouched).toBeCloseTo(trimmed.ids.reduce((a, ids) => a + ids.length, 0) / H, 12);
      disposeClusterSelection(wide);
      disposeClusterIndex(index);
      tf.dispose([labels, q, centroids, cut]);
    });
  });
});
