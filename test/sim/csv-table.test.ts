/** The one results-table builder and CSV reader/writer (src/sim/csv-table.ts), used by sweeps and passkey evals. */
import { describe, expect, it } from 'vitest';
import { csvTable, resultsCsv, resultsTable } from '../../src/sim/csv-table.js';
import { RESULT_COLUMNS } from '../../src/sim/results-schema.js';

describe('resultsTable and resultsCsv', () => {
  it('puts the leading columns first, then every other key alphabetically, and fills missing values with null', () => {
    const rows = [{ zeta: 1, method: 'full', layer: 0 }, { method: 'quest', budget: 64, alpha: 'x' }];
    const t = resultsTable(rows, ['method', 'budget', 'layer']);
    expect(t.columnNames()).toEqual(['method', 'budget', 'layer', 'alpha', 'zeta']);
    expect(t.objects()).toEqual([
      { method: 'full', budget: null, layer: 0, alpha: null, zeta: 1 },
      { method: 'quest', budget: 64, layer: null, alpha: 'x', zeta: null },
    ]);
    expect(resultsCsv(rows, ['method', 'budget', 'layer'])).toBe('method,budget,layer,alpha,zeta\nfull,,0,,1\nquest,64,,x,\n');
    // no rows: the header of the leading columns
    expect(resultsCsv([], ['method', 'budget'])).toBe('method,budget\n');
    // a sweep's rows: RESULT_COLUMNS in their order, whatever order the keys came in
    const row = Object.fromEntries([...RESULT_COLUMNS].reverse().map((c, i) => [c, i]));
    expect(resultsTable([{ extra: 1, ...row }], RESULT_COLUMNS).columnNames()).toEqual([...RESULT_COLUMNS, 'extra']);
  });
});

describe('csvTable', () => {
  it('reads back what resultsCsv wrote, inferring types from every row (not the first 1000)', () => {
    const rows = [...Array.from({ length: 1500 }, (_, i) => ({ method: 'full', step: i })), { method: 'quest', budget: 64, step: 1500 }];
    const back = csvTable(resultsCsv(rows, ['method', 'budget', 'step']));
    expect(back.numRows()).toBe(1501);
    expect(back.get('budget', 1500)).toBe(64);
    expect(back.get('budget', 0)).toBeNull();
    expect(back.get('step', 1499)).toBe(1499);
  });

  it('keeps the named text columns as written, and ignores names the header lacks', () => {
    const text = 'key,generated,digits\n01234, 12345.,7\n';
    expect(csvTable(text).objects()).toEqual([{ key: 1234, generated: 12345, digits: 7 }]);
    expect(csvTable(text, { textColumns: ['key', 'generated', 'document'] }).objects()).toEqual([{ key: '01234', generated: ' 12345.', digits: 7 }]);
  });
});
