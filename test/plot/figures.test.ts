// Figure builders: aggregated values checked against a plain-TS computation; titles, axes and legends present.
import * as aq from 'arquero';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectLabelled } from '../helpers/figures.js';
import {
  clusterDispersionFigure, clusterSizesFigure, errorVsBudgetFigure, latencyBreakdownFigure, paretoFront,
  paretoLatencyFigure, recallHeatmapFigure, recallVsBudgetFigure, type Figure, type ParetoPoint,
} from '../../src/plot/index.js';
import { methodColor } from '../../src/plot/style.js';
import { METHODS } from '../../src/sim/methods/index.js';

type Row = Record<string, unknown>;

/** A small sweep table: clusterkv at two cluster counts, oracle, full (no budget); values from a seeded LCG. */
function sweepRows(): Row[] {
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rows: Row[] = [];
  const cells: [string, number | null, number | null][] = [
    ['clusterkv', 4, 16], ['clusterkv', 4, 32], ['clusterkv', 8, 16], ['clusterkv', 8, 32],
    ['oracle', null, 16], ['oracle', null, 32], ['full', null, null],
  ];
  for (const [method, clusters, budget] of cells) {
    for (let layer = 0; layer < 2; layer++) for (let head = 0; head < 3; head++) for (let step = 0; step < 5; step++) {
      const m = method === 'full' ? 1 : rand();
      rows.push({ method, clusters, budget, budgetMode: 'selected', layer, head, step, massRecall: m, topkRecall: m * 0.9, outputRelError: method === 'full' ? 0 : 1 - m });
    }
  }
  return rows;
}

/** Quantile as arquero (and d3) define it: linear interpolation between order statistics at p * (n - 1). */
function quantile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  const i = p * (v.length - 1);
  const lo = Math.floor(i);
  return lo + 1 < v.length ? v[lo] + (v[lo + 1] - v[lo]) * (i - lo) : v[lo];
}


describe('recall vs budget', () => {
  const rows = sweepRows();
  const fig = recallVsBudgetFigure(aq.from(rows));

  it('draws mean lines with p10-p90 bands that match a plain computation', () => {
    expectLabelled(fig);
    const line = fig.data.find((t) => t.name === 'clusterkv C0=8' && t.xaxis === 'x')!;
    expect(line.x).toEqual([16, 32]);
    for (const [i, budget] of [16, 32].entries()) {
      const vals = rows.filter((r) => r.method === 'clusterkv' && r.clusters === 8 && r.budget === budget).map((r) => r.massRecall as number);
      expect(vals.length).toBe(30);
      expect((line.y as number[])[i]).toBeCloseTo(vals.reduce((a, b) => a + b, 0) / vals.length, 12);
      const [lo, hi] = (line.customdata as number[][])[i];
      expect(lo).toBeCloseTo(quantile(vals, 0.1), 12);
      expect(hi).toBeCloseTo(quantile(vals, 0.9), 12);
    }
    const band = fig.data.find((t) => t.name === 'clusterkv C0=8 p10–p90' && t.xaxis === 'x')!;
    expect(band.fill).toBe('toself');
    expect(band.x).toEqual([16, 32, 32, 16]);
  });

  it('splits series by method and cluster count, puts top-k recall in the second panel, full as a reference line', () => {
    const names = fig.data.filter((t) => t.xaxis === 'x' && t.showlegend !== false).map((t) => t.name);
    expect(names).toEqual(['clusterkv C0=4', 'clusterkv C0=8', 'oracle', 'full (no budget)']);
    const topk = fig.data.find((t) => t.name === 'oracle' && t.xaxis === 'x2')!;
    const mass = fig.data.find((t) => t.name === 'oracle' && t.xaxis === 'x')!;
    (topk.y as number[]).forEach((v, i) => expect(v).toBeCloseTo((mass.y as number[])[i] * 0.9, 12));
    const full = fig.data.find((t) => t.name === 'full (no budget)' && t.xaxis === 'x')!;
    expect(full.y).toEqual([1, 1]);
    expect(full.x).toEqual([16, 32]);
    expect(JSON.stringify(fig.layout.legend)).toContain('p10–p90');
  });

  it('uses the inter-quartile range when asked and says so', () => {
    const iqr = recallVsBudgetFigure(aq.from(rows), { band: 'iqr' });
    expect(JSON.stringify(iqr.layout.legend)).toContain('IQR');
    const line = iqr.data.find((t) => t.name === 'oracle' && t.xaxis === 'x')!;
    const vals = rows.filter((r) => r.method === 'oracle' && r.budget === 16).map((r) => r.massRecall as number);
    expect((line.customdata as number[][])[0][0]).toBeCloseTo(quantile(vals, 0.25), 12);
  });

  it('names the missing column of a wrong table', () => {
    expect(() => recallVsBudgetFigure(aq.from([{ method: 'x', budget: 1, massRecall: 1 }]))).toThrow(/lacks column\(s\) topkRecall/);
    expect(() => recallVsBudgetFigure(aq.table({ method: [], budget: [], massRecall: [], topkRecall: [] }))).toThrow(/no rows/);
  });
});

describe('output error vs budget', () => {
  it('plots mean relative error on a log axis and leaves the zero-error full method out', () => {
    const rows = sweepRows();
    const fig = errorVsBudgetFigure(aq.from(rows));
    expectLabelled(fig);
    expect((fig.layout.yaxis as { type: string }).type).toBe('log');
    expect(fig.data.some((t) => String(t.name).startsWith('full'))).toBe(false);
    const vals = rows.filter((r) => r.method === 'oracle' && r.budget === 32).map((r) => r.outputRelError as number);
    const line = fig.data.find((t) => t.name === 'oracle')!;
    expect((line.y as number[])[1]).toBeCloseTo(vals.reduce((a, b) => a + b, 0) / vals.length, 12);
  });
});

describe('Pareto front', () => {
  const point = fc.record({
    method: fc.constantFrom('a', 'b'),
    budget: fc.integer({ min: 1, max: 4 }),
    clusters: fc.constant(null),
    latencyMs: fc.integer({ min: 1, max: 20 }),
    massRecall: fc.integer({ min: 0, max: 20 }).map((v) => v / 20),
  });

  it('keeps exactly the points that no other point beats on both axes', () => {
    fc.assert(fc.property(fc.array(point, { minLength: 1, maxLength: 30 }), (points: ParetoPoint[]) => {
      const front = paretoFront(points);
      const dominated = (p: ParetoPoint) => points.some((o) => o.latencyMs <= p.latencyMs && o.massRecall >= p.massRecall && (o.latencyMs < p.latencyMs || o.massRecall > p.massRecall));
      for (const p of front) expect(dominated(p)).toBe(false);
      const onFront = (p: ParetoPoint) => front.some((f) => f.latencyMs === p.latencyMs && f.massRecall === p.massRecall);
      for (const p of points) if (!dominated(p)) expect(onFront(p)).toBe(true);
    }));
  });

  it('averages rows of one configuration and labels points', () => {
    const t = aq.from([
      { method: 'clusterkv', budget: 64, clusters: 8, latencyMs: 2, massRecall: 0.8 },
      { method: 'clusterkv', budget: 64, clusters: 8, latencyMs: 4, massRecall: 0.6 },
      { method: 'full', budget: null, clusters: null, latencyMs: 10, massRecall: 1 },
    ]);
    const fig = paretoLatencyFigure(t);
    expectLabelled(fig);
    const ckv = fig.data.find((t2) => t2.name === 'clusterkv')!;
    expect(ckv.x).toEqual([3]);
    expect((ckv.y as number[])[0]).toBeCloseTo(0.7, 12);
    expect(ckv.text).toEqual(['B=64 C0=8']);
    expect(fig.data.find((t2) => t2.name === 'Pareto front')!.x).toEqual([3, 10]);
  });
});

describe('layer x head heatmap', () => {
  it('averages over steps per layer and head at the chosen budget, one panel per method variant', () => {
    const rows = sweepRows();
    const fig = recallHeatmapFigure(aq.from(rows), { budget: 32 });
    expectLabelled(fig);
    expect(fig.title).toContain('B=32');
    expect(fig.data.map((t) => t.name)).toEqual(['clusterkv C0=4', 'clusterkv C0=8', 'oracle']);
    const z = fig.data[1].z as number[][];
    expect(z.length).toBe(2);
    expect(z[0].length).toBe(3);
    const vals = rows.filter((r) => r.method === 'clusterkv' && r.clusters === 8 && r.budget === 32 && r.layer === 1 && r.head === 2).map((r) => r.massRecall as number);
    expect(z[1][2]).toBeCloseTo(vals.reduce((a, b) => a + b, 0) / vals.length, 12);
  });

  it('picks the middle budget by default and rejects a budget that is absent', () => {
    expect(recallHeatmapFigure(aq.from(sweepRows())).title).toContain('B=16');
    expect(() => recallHeatmapFigure(aq.from(sweepRows()), { budget: 999 })).toThrow(/no rows at budget 999/);
  });
});

describe('clustering and latency figures', () => {
  const clusters = aq.from([
    { layer: 2, size: 10, dispersion: 0.2 }, { layer: 2, size: 30, dispersion: 0.4 }, { layer: 3, size: 20, dispersion: 0.3 },
  ]);

  it('histograms cluster sizes per layer and marks the mean', () => {
    const fig = clusterSizesFigure(clusters);
    expectLabelled(fig);
    expect(fig.data.map((t) => [t.name, t.x])).toEqual([['layer 2', [10, 30]], ['layer 3', [20]]]);
    expect((fig.layout.shapes as { x0: number }[])[0].x0).toBeCloseTo(20, 12);
  });

  it('plots dispersion against size per layer', () => {
    const fig = clusterDispersionFigure(clusters);
    expectLabelled(fig);
    expect(fig.data[0].y).toEqual([0.2, 0.4]);
    expect(() => clusterDispersionFigure(aq.from([{ layer: 1, size: 3 }]))).toThrow(/dispersion/);
  });

  it('stacks stage medians per configuration with totals', () => {
    const t = aq.from([
      { config: 'clusterkv', stage: 'scoring', medianMs: 1 }, { config: 'clusterkv', stage: 'attention', medianMs: 2.5 },
      { config: 'dense', stage: 'attention', medianMs: 7 },
    ]);
    const fig = latencyBreakdownFigure(t);
    expectLabelled(fig);
    expect(fig.data.map((d) => [d.name, d.y])).toEqual([['scoring', [1, 0]], ['attention', [2.5, 7]]]);
    expect((fig.layout.annotations as { text: string }[]).map((a) => a.text)).toEqual(['3.50 ms', '7.00 ms']);
  });
});

describe('method styles', () => {
  it('give every registered method its own colour, the same in every figure', () => {
    const colours = METHODS.map((m) => methodColor(m.name, []));
    expect(new Set(colours).size).toBe(METHODS.length);
    expect(METHODS.map((m) => methodColor(m.name, ['someone-else', m.name]))).toEqual(colours);
  });
});
