/**
 * The sweep's standard figures on a real sweep: the equal-average-budget comparison (issue 21, item 2) puts
 * each budget's point at the mean tokensAttended of its rows, so a wrapped method that spends less than B
 * (oracle-topp) is drawn left of its base (oracle) at the same B, and both can be read at an equal spend.
 */
import * as aq from 'arquero';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectLabelled } from '../helpers/figures.js';
import { smallTrace, tempDir } from '../helpers/traces.js';
import { useBackend } from '../../src/gpu/backend.js';
import { sweepFigures, sparseLayerRows } from '../../src/plot/sweep-figures.js';
import { runSweep, type SweepResult } from '../../src/sim/sweep.js';

type Row = Record<string, unknown>;

let result: SweepResult;
beforeAll(async () => {
  await useBackend('wasm');
  const trace = await smallTrace({ layers: 3 });
  result = await runSweep(trace, { methods: ['full', 'oracle', 'oracle-topp'], budgets: [32, 128] }, tempDir(), { backend: 'wasm' });
}, 120_000);

/** The rows of a method at a budget, sparse layers only (the figure's rows), plain TypeScript. */
function cellRows(method: string, budget: number): Row[] {
  const dense = (result.table.objects() as Row[]).find((r) => r.method === method)!.denseLayers as number;
  return (result.table.objects() as Row[]).filter((r) => r.method === method && r.budget === budget && (r.layer as number) >= dense);
}
const mean = (rows: Row[], column: string) => rows.reduce((s, r) => s + (r[column] as number), 0) / rows.length;

describe('recall vs tokens attended', () => {
  it('places each budget of each method at its mean tokensAttended, with its mean recall there', () => {
    const figures = sweepFigures(result.table, { cells: result.cells });
    expect(figures.map((f) => f.id)).toEqual(['recall-vs-budget', 'error-vs-budget', 'heatmap-mass-recall', 'recall-vs-attended']);
    const fig = figures[3];
    expectLabelled(fig);
    expect(fig.title).toMatch(/^Recall vs tokens attended/);
    expect((fig.layout.xaxis as { title: { text: string } }).title.text).toMatch(/tokens attended per query head/);
    for (const [method, panel, metric] of [['oracle', 'x', 'massRecall'], ['oracle-topp', 'x', 'massRecall'], ['oracle', 'x2', 'topkRecall'], ['oracle-topp', 'x2', 'topkRecall']] as const) {
      const line = fig.data.find((t) => t.name === method && t.xaxis === panel)!;
      const want = [32, 128].map((b) => ({ x: mean(cellRows(method, b), 'tokensAttended'), y: mean(cellRows(method, b), metric) })).sort((a, b) => a.x - b.x);
      expect((line.x as number[]).length).toBe(2);
      // the hover names the budget each point is the mean spend of
      expect((line.customdata as number[][]).map((c) => c[3])).toEqual([32, 128]);
      expect(line.hovertemplate).toContain('B=%{customdata[3]}');
      for (const [i, w] of want.entries()) {
        expect((line.x as number[])[i]).toBeCloseTo(w.x, 9);
        expect((line.y as number[])[i]).toBeCloseTo(w.y, 9);
      }
    }
  });

  it('draws the top-p wrapper left of its base at the same B: it spent less', () => {
    const fig = sweepFigures(result.table, { cells: result.cells }).find((f) => f.id === 'recall-vs-attended')!;
    const base = fig.data.find((t) => t.name === 'oracle' && t.xaxis === 'x')!.x as number[];
    const wrapped = fig.data.find((t) => t.name === 'oracle-topp' && t.xaxis === 'x')!.x as number[];
    for (const i of [0, 1]) expect(wrapped[i]).toBeLessThan(base[i]);
    // the base spends B plus its forced set on every row: its points are not at B
    const forced = mean(cellRows('oracle', 32), 'tokensAttended') - 32;
    expect(forced).toBeGreaterThan(0);
    expect(base[1] - base[0]).toBeCloseTo(128 - 32, 9);
  });

  it('is left out for results without tokensAttended (folders that predate the column)', () => {
    const old = sparseLayerRows(result.table).select(aq.not('tokensAttended'));
    expect(sweepFigures(old).map((f) => f.id)).toEqual(['recall-vs-budget', 'error-vs-budget', 'heatmap-mass-recall']);
  });
});
