/** The README's metric table is the metric list (src/sim/metrics.ts): same names, same meanings, same order. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/sim/metrics.js';

describe('README metrics', () => {
  it('lists every metric of METRICS with its meaning', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const block = readme.split('<!-- metrics -->')[1].split('\n\n')[0];
    const rows = block
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.replace(/\\\|/g, '\u0000').split('|').map((c) => c.trim().replace(/\u0000/g, '|')))
      .map(([, name, meaning]) => ({ name: name.replace(/`/g, ''), meaning }));
    expect(rows).toEqual(METRICS.map((m) => ({ name: m.name, meaning: m.meaning })));
  });
});
