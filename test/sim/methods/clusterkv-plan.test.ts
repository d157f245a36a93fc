/** ClusterKV's plan (src/sim/methods/clusterkv/plan.ts): C0, the ranges, the seed rules, the typed parameters. */
import { describe, expect, it } from 'vitest';
import { CLUSTERKV_PARAMS } from '../../../src/sim/methods/clusterkv/params.js';
import { CLUSTERKV_DEFAULTS, clusterCount, clusteringSeed, clusterkvParams, diagnosticsSeed, promptClustering, windowClustering } from '../../../src/sim/methods/clusterkv/plan.js';
import { createMethod } from '../../../src/sim/methods/index.js';

describe('ClusterKV plan', () => {
  it('C0 = ceil(L / tokensPerCluster) over the prompt after the sinks, or the fixed count', () => {
    expect(promptClustering({ sinks: 16, clusters: 0, tokensPerCluster: 80 }, 4080)).toEqual({ start: 16, tokens: 4064, clusters: 51 });
    expect(promptClustering({ sinks: 16, clusters: 7, tokensPerCluster: 80 }, 4080)).toEqual({ start: 16, tokens: 4064, clusters: 7 });
    expect(promptClustering({ sinks: 16, clusters: 7, tokensPerCluster: 80 }, 10)).toEqual({ start: 10, tokens: 0, clusters: 0 });
    expect(() => promptClustering({ sinks: 4, clusters: 9, tokensPerCluster: 80 }, 12)).toThrow(/'clusters' \(9\) is more than the 8 prompt tokens/);
    expect(clusterCount({ clusters: 0, tokensPerCluster: 80 }, 32768)).toBe(410);
  });

  it('a decode window is clustered from the sinks on, into at most its tokens', () => {
    const p = { sinks: 4, window: 6, windowClusters: 2 };
    expect(windowClustering(p, 30, 0)).toEqual({ start: 30, tokens: 6, clusters: 2 });
    expect(windowClustering(p, 30, 2)).toEqual({ start: 42, tokens: 6, clusters: 2 });
    expect(windowClustering(p, 3, 0)).toEqual({ start: 4, tokens: 5, clusters: 2 });
    expect(windowClustering({ ...p, sinks: 8, windowClusters: 4 }, 1, 0)).toEqual({ start: 7, tokens: 0, clusters: 0 });
    expect(windowClustering({ ...p, sinks: 8, windowClusters: 4 }, 0, 1)).toEqual({ start: 8, tokens: 4, clusters: 4 });
  });

  it('pins the seed of the prompt and of each window (ClusterKV) and the diagnostics rule', () => {
    expect(clusteringSeed({ seed: 0 }, 0)).toBe(997314350);
    expect(clusteringSeed({ seed: 5 }, 1)).toBe(1981739894);
    expect(clusteringSeed({ seed: 0 }, 3, 0)).toBe(3817018529);
    expect(diagnosticsSeed({ seed: 5 }, 1)).toBe(6);
    expect(diagnosticsSeed({ seed: 0 }, 3, 0)).toBe(7922);
  });

  it('types a configured method\'s parameters and refuses other methods', () => {
    const p = clusterkvParams(createMethod('clusterkv', { budget: 64, tokensPerCluster: 40 }));
    expect(p).toMatchObject({ ...CLUSTERKV_DEFAULTS, budget: 64, tokensPerCluster: 40 });
    expect(() => clusterkvParams(createMethod('quest', { budget: 64 }))).toThrow(/expected method 'clusterkv', got 'quest'/);
    const method = createMethod('clusterkv', { budget: 64 });
    expect(() => clusterkvParams({ ...method, params: { ...method.params, iters: 'many' } })).toThrow(/parameter 'iters'/);
  });

  it('the defaults are the declaration\'s, every parameter but the budget', () => {
    expect(Object.keys(CLUSTERKV_DEFAULTS).sort()).toEqual(Object.keys(CLUSTERKV_PARAMS).filter((k) => k !== 'budget').sort());
    for (const [k, v] of Object.entries(CLUSTERKV_DEFAULTS)) expect(v).toBe(CLUSTERKV_PARAMS[k as keyof typeof CLUSTERKV_PARAMS].default);
  });
});
