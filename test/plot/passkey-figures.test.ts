/** The passkey figures from a small hand-made eval table: labelled, and drawing exactly the table's means. */
import * as aq from 'arquero';
import { describe, expect, it } from 'vitest';
import { accuracySummary } from '../../src/model/passkey/summary.js';
import { passkeyAccuracyFigure } from '../../src/plot/passkey-accuracy.js';
import { passkeyFigures } from '../../src/plot/passkey-figures.js';
import { passkeyHeatmapFigure } from '../../src/plot/passkey-heatmap.js';
import { needleRecallAccuracyFigure } from '../../src/plot/passkey-recall.js';
import { expectLabelled } from '../helpers/figures.js';

/** 2 contexts x 2 depths; full always right; quest right except at depth 0 with B=32; clusterkv at 2 tokensPerCluster. */
function table(): aq.ColumnTable {
  const rows: Record<string, unknown>[] = [];
  for (const context of [1024, 2048]) {
    for (const depth of [0, 1]) {
      const doc = { document: `c${context}-d${depth}-k0`, context, depth, budgetMode: 'selected', digitsCorrect: 5, needleMassRecall: 1 };
      rows.push({ ...doc, method: 'full', budget: null, correct: 1, keyMassRecall: 1, tokensPerCluster: null, scoring: null });
      for (const budget of [32, 128]) {
        rows.push({ ...doc, method: 'quest', budget, correct: depth === 0 && budget === 32 ? 0 : 1, keyMassRecall: 0.9, tokensPerCluster: null, scoring: null });
        for (const tpc of [80, 20]) {
          const correct = tpc === 20 && (budget === 128 || context === 1024) ? 1 : 0;
          rows.push({ ...doc, method: 'clusterkv', budget, correct, keyMassRecall: correct ? 0.8 : 0.3, tokensPerCluster: tpc, scoring: 'centroid' });
        }
      }
    }
  }
  return aq.from(rows);
}

const trace = (fig: { data: Record<string, unknown>[] }, name: string, axis = 'x') => fig.data.find((d) => d.name === name && (d.xaxis ?? 'x') === axis)!;

describe('passkey figures', () => {
  it('accuracy vs budget: one line per variant per context panel, and dense as the ceiling', () => {
    const fig = passkeyAccuracyFigure(table());
    expectLabelled(fig);
    // panels: 1024, 2048, all
    expect(fig.layout.xaxis3).toBeDefined();
    expect(fig.layout.xaxis4).toBeUndefined();
    expect(trace(fig, 'quest').y).toEqual([0.5, 1]);
    expect(trace(fig, 'clusterkv tpc=20', 'x').y).toEqual([1, 1]);
    expect(trace(fig, 'clusterkv tpc=20', 'x2').y).toEqual([0, 1]);
    expect(trace(fig, 'clusterkv tpc=20', 'x3').y).toEqual([0.5, 1]);
    expect(trace(fig, 'clusterkv tpc=80', 'x3').y).toEqual([0, 0]);
    const ceiling = trace(fig, 'full (dense, no budget): the ceiling');
    expect([ceiling.x, ceiling.y]).toEqual([[32, 128], [1, 1]]);
    // every series is in the summary too, with the same accuracy
    const summary = accuracySummary(table()).rows.filter((r) => r.method === 'clusterkv' && r.tokensPerCluster === 20);
    expect(summary.map((r) => [r.budget, r['acc@1024'], r['acc@2048'], r.accuracy])).toEqual([[32, 1, 0, 0.5], [128, 1, 1, 1]]);
  });

  it('depth x context heatmap: one panel per variant at the budget, dense first', () => {
    const fig = passkeyHeatmapFigure(table(), { budget: 32 });
    expectLabelled(fig);
    expect(fig.id).toBe('passkey-depth-context-b32');
    expect(fig.data.map((d) => d.name)).toEqual(['full (dense, no budget)', 'quest', 'clusterkv tpc=80', 'clusterkv tpc=20']);
    expect(trace(fig, 'quest', 'x2').z).toEqual([[0, 0], [1, 1]]); // rows: depth 0, 1; columns: 1024, 2048
    expect(trace(fig, 'clusterkv tpc=20', 'x4').z).toEqual([[1, 0], [1, 0]]);
  });

  it('needle recall vs accuracy: a marker per variant and budget, and the pooled bins', () => {
    const fig = needleRecallAccuracyFigure(table());
    expectLabelled(fig);
    const tpc20 = trace(fig, 'clusterkv tpc=20');
    expect(tpc20.x).toEqual([0.55, 0.8]);
    expect(tpc20.y).toEqual([0.5, 1]);
    const bins = fig.data[fig.data.length - 1];
    // recall 0.3 (clusterkv, all wrong), 0.8 (clusterkv, all right), 0.9 (quest: 6 of 8 right)
    expect(bins.y).toEqual([0, 1, 6 / 8]);
    expect(bins.customdata).toEqual([10, 6, 8]);
  });

  it('the standard set: three figures with distinct ids', () => {
    expect(passkeyFigures(table(), { heatmapBudget: 128 }).map((f) => f.id)).toEqual(['passkey-accuracy-vs-budget', 'passkey-depth-context-b128', 'passkey-accuracy-vs-key-recall']);
  });
});
