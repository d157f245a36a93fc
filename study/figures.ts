/**
 * The report's figures: the standard sweep figures (src/plot/sweepFigures.ts, as `clusterkv plot` draws them)
 * of chosen sweeps, rendered at scale 1 so each PNG stays small, into study/figures/TRACE-ID.png.
 *
 *   npx tsx study/figures.ts [RUNS_DIR] [OUT_DIR] TRACE:FIGURE_ID...
 *   e.g. ckv-moby-16k:recall-vs-budget s260k-moby-2k:recall-vs-budget ckv-moby-16k:heatmap-mass-recall
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as aq from 'arquero';
import { writeFigurePngs } from '../src/plot/png.js';
import { sweepFigures } from '../src/plot/sweep-figures.js';

const [runs = 'runs/study', outDir = 'study/figures', ...wanted] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const byTrace = new Map<string, string[]>();
for (const w of wanted) {
  const [trace, id] = w.split(':');
  byTrace.set(trace, [...(byTrace.get(trace) ?? []), id]);
}
for (const [trace, ids] of byTrace) {
  const dir = path.join(runs, 'sweeps', trace);
  const table = aq.fromArrow(readFileSync(path.join(dir, 'results.arrow')));
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const figures = sweepFigures(table, { subtitle: `${trace} (${manifest.trace.source.name})`, cells: manifest.cells, band: 'iqr', heatmapBudget: 1024 })
    .filter((f) => ids.includes(f.id));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'study-fig-'));
  const files = await writeFigurePngs(figures, tmp, 1);
  for (const f of files) {
    const dest = path.join(outDir, `${trace}-${path.basename(f)}`);
    copyFileSync(f, dest);
    console.log(dest);
  }
}
