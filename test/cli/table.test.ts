/** Terminal tables and counts (issue 22, item 13): one number format per column, "1 cell" not "1 cells". */
import { describe, expect, it } from 'vitest';
import { count, formatTable } from '../../src/cli/table.js';

describe('formatTable', () => {
  it('shows every number of a column with fractions to the same decimals, and integer columns as integers', () => {
    const rows = [
      { method: 'full', budget: null, massRecall: 1, documents: 4 },
      { method: 'oracle', budget: 128, massRecall: 0.6454, documents: 4 },
      { method: 'quest', budget: 256, massRecall: 0, documents: 5 },
    ];
    expect(formatTable(rows, ['method', 'budget', 'massRecall', 'documents']).split('\n')).toEqual([
      'method  budget  massRecall  documents',
      '------  ------  ----------  ---------',
      '  full               1.000          4',
      'oracle     128       0.645          4',
      ' quest     256       0.000          5',
    ]);
    expect(formatTable([{ x: Number.NaN }, { x: 0.5 }], ['x'], 2).split('\n').slice(2)).toEqual([' NaN', '0.50']);
  });
});

describe('count', () => {
  it('says 1 cell, 2 cells, 0 documents, and takes an irregular plural', () => {
    expect([count(1, 'cell'), count(2, 'cell'), count(0, 'document'), count(1, 'series', 'series'), count(3, 'KV head')]).toEqual(['1 cell', '2 cells', '0 documents', '1 series', '3 KV heads']);
  });
});
