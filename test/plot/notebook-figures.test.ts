// Figure builders added for the notebooks: values checked against plain computations; titles, axes, legends present.
import * as aq from 'arquero';
import { describe, expect, it } from 'vitest';
import { expectLabelled } from '../helpers/figures.js';
import {
  cacheHitRateFigure, gridHeatmapFigure, latencyBreakdownFigure, latencyVsContextFigure, metricVsBudgetFigure,
  parityScatterFigure, PlotError, recallHeatmapFigure, type Figure,
} from '../../src/plot/index.js';
import { logTicks } from '../../src/plot/style.js';

type Row = Record<string, unknown>;


const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

describe('metric vs budget', () => {
  const rows: Row[] = [];
  for (const method of ['oracle', 'clusterkv']) for (const budget of [32, 64]) for (let step = 0; step < 4; step++) {
    rows.push({ method, budget, step, kl: (method === 'oracle' ? 1e-3 : 1e-2) * (step + 1) / budget });
  }
  rows.push({ method: 'full', budget: null, step: 0, kl: 0 });

  it('draws the mean per method and budget on a log axis, leaving out a zero reference line', () => {
    const fig = metricVsBudgetFigure(aq.from(rows), { metric: 'kl', seriesBy: ['method'], logY: true, id: 'kl-vs-budget', what: 'Next-token KL from dense', yTitle: 'KL (nats, log scale)' });
    expectLabelled(fig);
    expect(fig.id).toBe('kl-vs-budget');
    const line = fig.data.find((t) => t.name === 'clusterkv')!;
    expect(line.x).toEqual([32, 64]);
    [32, 64].forEach((b, i) => expect((line.y as number[])[i]).toBeCloseTo(mean(rows.filter((r) => r.method === 'clusterkv' && r.budget === b).map((r) => r.kl as number)), 15));
    expect((fig.layout.yaxis as { type: string }).type).toBe('log');
    expect(fig.data.some((t) => String(t.name).startsWith('full'))).toBe(false);
    expect(JSON.stringify(fig.layout.legend)).toContain('p10–p90');
  });

  it('keeps a reference line on a linear axis and drops the band note when rows are one per point', () => {
    const runs = aq.from([
      { method: 'oracle', budget: 32, agree: 0.9 }, { method: 'oracle', budget: 64, agree: 1 },
      { method: 'clusterkv', budget: 32, agree: 0.6 }, { method: 'clusterkv', budget: 64, agree: 0.95 },
      { method: 'full', budget: null, agree: 1 },
    ]);
    const fig = metricVsBudgetFigure(runs, { metric: 'agree', seriesBy: ['method'], yRange: [0, 1.02], id: 'top1', what: 'Top-1 agreement', yTitle: 'fraction of steps' });
    expectLabelled(fig);
    expect(fig.data.find((t) => t.name === 'full (no budget)')!.y).toEqual([1, 1]);
    expect((fig.layout.yaxis as { range: number[] }).range).toEqual([0, 1.02]);
    expect(JSON.stringify(fig.layout.legend)).not.toContain('band');
  });
});

describe('cache hit rate', () => {
  const summary = aq.from([
    { method: 'clusterkv', budget: 256, policy: 'last-r:1', hitRate: 0.7, hitRateWarm: 0.8, mbPerStep: 0.19 },
    { method: 'clusterkv', budget: 256, policy: 'lru:4096', hitRate: 0.85, hitRateWarm: 0.93, mbPerStep: 0.1 },
    { method: 'quest', budget: 256, policy: 'last-r:1', hitRate: 0.8, hitRateWarm: 0.87, mbPerStep: 0.1 },
    { method: 'quest', budget: 256, policy: 'lru:4096', hitRate: 0.9, hitRateWarm: 0.95, mbPerStep: 0.06 },
  ]);

  it('groups one bar per policy within each method, hit rate left and traffic right', () => {
    const fig = cacheHitRateFigure(summary);
    expectLabelled(fig);
    const hits = fig.data.filter((t) => t.yaxis === 'y');
    expect(hits.map((t) => [t.name, t.x, t.y])).toEqual([
      ['last-r:1', ['clusterkv', 'quest'], [0.8, 0.87]],
      ['lru:4096', ['clusterkv', 'quest'], [0.93, 0.95]],
    ]);
    expect(fig.data.filter((t) => t.yaxis === 'y2').map((t) => t.y)).toEqual([[0.19, 0.1], [0.1, 0.06]]);
    expect(cacheHitRateFigure(summary, { metric: 'hitRate' }).data[0].y).toEqual([0.7, 0.8]);
  });

  it('names the budget in the groups when several budgets are compared, and names missing columns', () => {
    const two = summary.derive({ budget: (d: Row) => (d.method === 'quest' ? 512 : 256) });
    expect(cacheHitRateFigure(two).data[0].x).toEqual(['clusterkv B=256', 'quest B=512']);
    expect(() => cacheHitRateFigure(summary.select('method', 'budget', 'policy'))).toThrow(/hitRateWarm/);
  });
});

describe('latency vs context', () => {
  const rows = [
    { source: 'webgpu H200', context: 8192, series: 'dense', medianMs: 0.2 },
    { source: 'webgpu H200', context: 4096, series: 'dense', medianMs: 0.1 },
    { source: 'webgpu H200', context: 4096, series: 'clusterkv B=512', medianMs: 0.3 },
    { source: 'webgpu H200', context: 8192, series: 'clusterkv B=512', medianMs: 0.31 },
    { source: 'wasm', context: 4096, series: 'clusterkv B=256', medianMs: 12 },
    { source: 'wasm', context: 4096, series: 'dense', medianMs: 4 },
  ];

  it('draws one line per source and series, sorted by context, dense first, dashed per source', () => {
    const fig = latencyVsContextFigure(aq.from(rows));
    expectLabelled(fig);
    expect(fig.data.map((t) => t.name)).toEqual([
      'dense — webgpu H200', 'clusterkv B=512 — webgpu H200', 'dense — wasm', 'clusterkv B=256 — wasm',
    ]);
    expect(fig.data[0].x).toEqual([4096, 8192]);
    expect(fig.data[0].y).toEqual([0.1, 0.2]);
    expect((fig.data[0].line as { dash: string }).dash).not.toBe((fig.data[2].line as { dash: string }).dash);
    expect((fig.layout.xaxis as { type: string; tickvals: number[] }).tickvals).toEqual([4096, 8192]);
    expect((fig.layout.yaxis as { type: string }).type).toBe('log');
  });

  it('leaves the source out of the names when there is one', () => {
    const fig = latencyVsContextFigure(aq.from(rows.filter((r) => r.source === 'wasm')));
    expect(fig.data.map((t) => t.name)).toEqual(['dense', 'clusterkv B=256']);
  });
});

describe('cluster-count x budget grid', () => {
  const rows: Row[] = [];
  for (const clusters of [8, 16]) for (const budget of [64, 128, 256]) for (let head = 0; head < 3; head++) {
    rows.push({ method: 'clusterkv', clusters, budget, head, massRecall: (clusters / 16) * (budget / 256) * (head + 1) / 3 });
  }
  rows.push({ method: 'oracle', clusters: null, budget: 64, head: 0, massRecall: 1 });

  it('averages the metric per (C0, B) of the chosen method and writes the values in the cells', () => {
    const fig = gridHeatmapFigure(aq.from(rows));
    expectLabelled(fig);
    const [heat] = fig.data;
    expect(heat.x).toEqual(['64', '128', '256']);
    expect(heat.y).toEqual(['8', '16']);
    const z = heat.z as number[][];
    expect(z[1][2]).toBeCloseTo(mean([1, 2, 3].map((h) => h / 3)), 12);
    expect(z[0][0]).toBeCloseTo(0.5 * 0.25 * mean([1, 2, 3].map((h) => h / 3)), 12);
    expect((heat.text as string[][])[1][2]).toBe(z[1][2].toFixed(3));
  });

  it('rejects a method without a grid', () => {
    expect(() => gridHeatmapFigure(aq.from(rows), { method: 'oracle' })).toThrow(PlotError);
  });
});

describe('parity scatter', () => {
  it('draws one group per kind, the y = x line over the range, and the largest difference', () => {
    const t = aq.from([
      { kind: 'tensor mean', ts: -0.5, py: -0.5 }, { kind: 'tensor mean', ts: 0.25, py: 0.25 },
      { kind: 'recall (csv)', ts: 0.75, py: 0.75 + 1e-12 },
    ]);
    const fig = parityScatterFigure(t, { x: 'ts', y: 'py', group: 'kind', xTitle: 'TypeScript', yTitle: 'Python', what: 'Written vs read back', id: 'python-roundtrip' });
    expectLabelled(fig);
    expect(fig.data.map((d) => d.name)).toEqual(['tensor mean (2)', 'recall (csv) (1)', 'y = x (agreement)']);
    expect(fig.data[2].x).toEqual([-0.5, 0.75 + 1e-12]);
    expect(JSON.stringify(fig.layout.title)).toContain('largest |difference| 1.00e-12');
  });
});

describe('faceted latency breakdown', () => {
  it('gives each source its own panel and time axis, one legend entry per stage', () => {
    const t = aq.from([
      { source: 'webgpu H200', config: 'dense', stage: 'dense attention', medianMs: 0.05 },
      { source: 'webgpu H200', config: 'clusterkv B=2048', stage: 'gather', medianMs: 0.01 },
      { source: 'wasm', config: 'dense', stage: 'dense attention', medianMs: 4 },
      { source: 'wasm', config: 'clusterkv B=256', stage: 'gather', medianMs: 10 },
      { source: 'wasm', config: 'clusterkv B=256', stage: 'attend', medianMs: 0.5 },
    ]);
    const fig = latencyBreakdownFigure(t, { facetBy: 'source' });
    expectLabelled(fig);
    expect(fig.data.map((d) => [d.name, d.xaxis, d.showlegend])).toEqual([
      ['dense attention', 'x', true], ['gather', 'x', true], ['dense attention', 'x2', false], ['gather', 'x2', false], ['attend', 'x2', true],
    ]);
    expect(fig.data[3].y).toEqual([0, 10]);
    const d1 = (fig.layout.xaxis as { domain: number[] }).domain;
    const d2 = (fig.layout.xaxis2 as { domain: number[] }).domain;
    expect(d1[1]).toBeLessThan(d2[0]);
    const texts = (fig.layout.annotations as { text: string }[]).map((a) => a.text);
    expect(texts).toEqual(expect.arrayContaining(['<b>webgpu H200</b>', '<b>wasm</b>', '0.050 ms', '10.5 ms']));
  });
});

describe('log ticks', () => {
  it('label 1, 2, 5 per decade over a few decades and powers of ten over many', () => {
    expect(logTicks([0.3, 30]).tickvals).toEqual([0.2, 0.5, 1, 2, 5, 10, 20, 50]);
    expect(logTicks([1e-7, 0.5]).tickvals).toEqual([1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1]);
  });
});

describe('layer x head heatmap of a method with a default cluster count', () => {
  it('puts the dense first layers (no cluster count) in the panel of the method\'s only cluster count', () => {
    const rows: Row[] = [];
    for (const method of ['oracle', 'clusterkv']) for (let layer = 0; layer < 3; layer++) for (let head = 0; head < 2; head++) {
      rows.push({ method, clusters: method === 'clusterkv' && layer >= 1 ? 26 : null, budget: 128, layer, head, massRecall: layer === 0 ? 1 : 0.5 });
    }
    const fig = recallHeatmapFigure(aq.from(rows), { seriesBy: ['method', 'clusters'] });
    expect(fig.data.map((t) => t.name)).toEqual(['oracle', 'clusterkv C0=26']);
    expect((fig.data[1].z as number[][]).map((r) => r[0])).toEqual([1, 0.5, 0.5]);
  });
});
