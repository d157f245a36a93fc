/**
 * Issue 12, item 12: titles wrapped to the figure's width (the error-vs-budget title ran past the right edge),
 * spread bands on demand once many series overlap (eight p10-p90 bands washed into grey with --methods all),
 * dense first layers marked in the layer x head heatmap.
 */
import * as aq from 'arquero';
import { describe, expect, it } from 'vitest';
import { errorVsBudgetFigure, recallHeatmapFigure, recallVsBudgetFigure, type Figure } from '../../src/plot/index.js';
import { wrapText } from '../../src/plot/style.js';
import { METHODS as REGISTRY } from '../../src/sim/methods/index.js';

type Row = Record<string, unknown>;

/** What a sweep with --methods all plots against the budget: every budgeted method of the registry. */
const METHODS = REGISTRY.filter((m) => m.budgeted).map((m) => m.name);

/** A sweep table of `methods` at two budgets, 4 layers (the first `denseLayers` dense), 2 heads, 3 steps. */
function rows(methods: string[], denseLayers = 2): Row[] {
  const out: Row[] = [];
  methods.forEach((method, m) => {
    for (const budget of [64, 128]) {
      for (let layer = 0; layer < 4; layer++) for (let head = 0; head < 2; head++) for (let step = 0; step < 3; step++) {
        const value = layer < denseLayers ? 1 : 0.3 + 0.05 * m + 0.001 * budget + 0.01 * step;
        out.push({ method, clusters: null, budget, denseLayers, layer, head, step, massRecall: value, topkRecall: value, outputRelError: 1 - value + 1e-3 });
      }
    }
  });
  return out;
}

/** The lines of a figure's title as drawn (markup removed) with their font size. */
function titleLines(fig: Figure): { text: string; size: number }[] {
  const title = fig.layout.title as { text: string; font: { size: number } };
  return title.text.split('<br>').map((line) => {
    const small = /font-size:(\d+)px/.exec(line);
    return { text: line.replace(/<[^>]+>/g, ''), size: small ? Number(small[1]) : title.font.size };
  });
}

describe('titles', () => {
  it('wrap at separators, never beyond the limit', () => {
    expect(wrapText('short title', 40)).toEqual(['short title']);
    const long = 'Attention output error vs token budget, per method and cluster count, on a long trace name';
    const lines = wrapText(long, 40);
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(lines.join(' ')).toBe(long);
    expect(lines[0]).toBe('Attention output error vs token budget,');
    expect(wrapText('x'.repeat(95), 40)).toEqual(['x'.repeat(40), 'x'.repeat(40), 'x'.repeat(15)]);
  });

  it('of the error and recall figures fit their width with a long subtitle', () => {
    const subtitle = 'ckvlab-9m-16k on Moby Dick, 16384 tokens, 32 decode steps (model.bin); dense first layers left out';
    const table = aq.from(rows(METHODS));
    for (const fig of [errorVsBudgetFigure(table, { subtitle }), recallVsBudgetFigure(table, { subtitle })]) {
      const lines = titleLines(fig);
      expect(lines.length).toBeGreaterThan(1);
      // 0.56 em per character of Helvetica/Arial is generous; the title starts at 2% of the width
      for (const line of lines) expect(line.text.length * line.size * 0.56, `${fig.id}: ${line.text}`).toBeLessThanOrEqual(fig.width * 0.96);
      expect(lines.map((l) => l.text).join(' ')).toContain('ckvlab-9m-16k on Moby Dick');
      const margin = fig.layout.margin as { t: number };
      expect(margin.t).toBeGreaterThanOrEqual(24 + lines.length * 18);
    }
  });
});

describe('spread bands', () => {
  const bandsOf = (fig: Figure) => fig.data.filter((t) => t.fill === 'toself');
  const toggle = (fig: Figure) => ((fig.layout.updatemenus as Record<string, unknown>[]) ?? [])[0] as { buttons: { label: string; args: [Record<string, unknown>, number[]] }[] } | undefined;

  it('show for a few series, with a toggle', () => {
    const fig = errorVsBudgetFigure(aq.from(rows(['clusterkv', 'oracle'])));
    expect(bandsOf(fig)).toHaveLength(2);
    expect(bandsOf(fig).every((t) => t.visible === undefined)).toBe(true);
    expect(toggle(fig)!.buttons.map((b) => b.label)).toEqual(['bands on', 'bands off']);
  });

  it('are hidden, one click away, when many series would wash into grey; the toggle addresses exactly the bands', () => {
    for (const fig of [errorVsBudgetFigure(aq.from(rows(METHODS))), recallVsBudgetFigure(aq.from(rows(METHODS)))]) {
      const bands = bandsOf(fig);
      expect(bands.length).toBe(fig.id === 'recall-vs-budget' ? 2 * METHODS.length : METHODS.length);
      expect(bands.every((t) => t.visible === false)).toBe(true);
      const on = toggle(fig)!.buttons[0];
      expect(on.args[0]).toEqual({ visible: true });
      expect(on.args[1]).toEqual(fig.data.flatMap((t, i) => (t.fill === 'toself' ? [i] : [])));
      expect(JSON.stringify((fig.layout.legend as { title: unknown }).title)).toContain('band: p10–p90 (off)');
    }
  });

  it('can be forced on, or left out', () => {
    const table = aq.from(rows(METHODS));
    expect(bandsOf(errorVsBudgetFigure(table, { bands: 'shown' })).every((t) => t.visible === undefined)).toBe(true);
    const none = errorVsBudgetFigure(table, { bands: 'none' });
    expect(bandsOf(none)).toEqual([]);
    expect(toggle(none)).toBeUndefined();
  });
});

describe('heatmap', () => {
  it('shades and labels the dense first layers of each panel', () => {
    const fig = recallHeatmapFigure(aq.from(rows(['clusterkv', 'quest'])), { budget: 64 });
    const shapes = fig.layout.shapes as Record<string, unknown>[];
    expect(shapes).toHaveLength(2);
    // heads 0..1 and the rows of layers 0 and 1 (cell edges at +-0.5), in each panel's own axes
    expect(shapes[0]).toMatchObject({ type: 'rect', xref: 'x', yref: 'y', x0: -0.5, x1: 1.5, y0: -0.5, y1: 1.5 });
    expect(shapes[1]).toMatchObject({ xref: 'x2', yref: 'y2' });
    const labels = (fig.layout.annotations as { text: string; yref?: string }[]).filter((a) => a.text.startsWith('dense'));
    expect(labels.map((a) => [a.text, a.yref])).toEqual([['dense: layers 0–1 attend all', 'y'], ['dense: layers 0–1 attend all', 'y2']]);
    expect((fig.data[0].text as string[][]).map((row) => row[0])).toEqual(['dense layer: attends all', 'dense layer: attends all', '', '']);
    expect(JSON.stringify(fig.layout.title)).toContain('shaded rows: dense first layers');
  });

  it('marks nothing without dense layers', () => {
    const fig = recallHeatmapFigure(aq.from(rows(['quest'], 0)), { budget: 64 });
    expect(fig.data[0].text).toBeUndefined();
    expect(fig.layout.shapes).toEqual([]);
    expect(JSON.stringify(fig.layout.title)).not.toContain('shaded');
  });
});
