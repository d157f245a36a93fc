/** The README's method table is the registry (src/sim/methods/index.ts): same names, same summaries, same order. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHODS } from '../../src/sim/methods/index.js';

describe('README methods', () => {
  it('lists every registered method with its summary, and a paper for every method that cites one', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const block = readme.split('<!-- methods -->')[1].split('\n\n')[0];
    const rows = block
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map(([, name, summary, paper]) => ({ name: name.replace(/`/g, ''), summary, paper }));
    expect(rows.map(({ name, summary }) => ({ name, summary }))).toEqual(METHODS.map((m) => ({ name: m.name, summary: m.summary })));
    // a summary that cites authors ("(Tang et al., 2024)") has the paper in the table
    for (const r of rows) if (/et al\./.test(r.summary)) expect(r.paper, r.name).not.toBe('');
  });
});
