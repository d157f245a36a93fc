/**
 * The passkey study's figures for study/README.md: the standard passkey figures (src/plot/passkey-*.ts, as
 * `clusterkv plot` draws them) of the methods and scoring folders (issue 14) and the methods32k and
 * scoring32k folders (issue 21), rendered at scale 1 into study/figures/passkey-<folder>-<id>.png.
 *
 *   npx tsx study/passkey-figures.ts [RUNS_DIR] [OUT_DIR] [HEATMAP_BUDGET]
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readPasskeyEvalFolder } from '../src/model/passkey/eval-folder.js';
import { passkeyFigures, passkeySubtitle } from '../src/plot/passkey-figures.js';
import { writeFigurePngs } from '../src/plot/png.js';

const [runs = 'runs/study/passkey', outDir = 'study/figures', budget = '64'] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
for (const name of ['methods', 'scoring', 'methods32k', 'scoring32k']) {
  const dir = path.join(runs, name);
  if (!existsSync(path.join(dir, 'results.arrow'))) continue;
  const { table, manifest } = readPasskeyEvalFolder(dir, { allowUnfinished: true });
  const figures = passkeyFigures(table, { heatmapBudget: Number(budget), subtitle: `${passkeySubtitle(manifest)} (${name})` });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'passkey-fig-'));
  const files = await writeFigurePngs(figures, tmp, 1);
  for (const f of files) {
    const dest = path.join(outDir, `passkey-${name}-${path.basename(f)}`);
    copyFileSync(f, dest);
    console.log(dest);
  }
}
