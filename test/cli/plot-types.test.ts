/**
 * `clusterkv plot` types results.csv columns from every row: when the first 1000+ rows are full's (empty
 * budget, clusters, denseLayers), arquero's default inference (first 1000 values) made them boolean and the
 * plot found "no rows at budget B" (seen on a 6-layer, 6-head, 32-step sweep: 1152 full rows first).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');

describe('clusterkv plot column types', () => {
  it('keeps numeric budgets when more than 1000 leading rows leave them empty', () => {
    const dir = path.join(tempDir('ckv-plot-types-'), 'sweep');
    mkdirSync(dir, { recursive: true });
    const header = 'method,clusters,budget,layer,head,step,massRecall,topkRecall,outputRelError,denseLayers';
    const rows: string[] = [];
    for (let layer = 0; layer < 3; layer++) for (let head = 0; head < 4; head++) for (let step = 0; step < 100; step++) rows.push(`full,,,${layer},${head},${step},1,1,0,`);
    for (const method of ['oracle', 'quest']) {
      for (const budget of [64, 128]) {
        for (let layer = 0; layer < 3; layer++) {
          for (let head = 0; head < 4; head++) {
            for (let step = 0; step < 2; step++) rows.push(`${method},,${budget},${layer},${head},${step},${budget / 200 + step / 100},0.5,0.2,1`);
          }
        }
      }
    }
    expect(rows.length).toBeGreaterThan(1200);
    writeFileSync(path.join(dir, 'results.csv'), `${header}\n${rows.join('\n')}\n`);
    const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'plot', dir, '--budget', '128'], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const recall = readFileSync(path.join(dir, 'figures', 'recall-vs-budget.html'), 'utf8');
    expect(recall.includes('"name":"oracle"')).toBe(true);
    expect(recall.includes('"name":"quest"')).toBe(true);
  }, 120_000);
});
