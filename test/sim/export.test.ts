// Results export: each format read back (arquero's own readers and the Arrow IPC file magic) gives the same table.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { afterAll, describe, expect, it } from 'vitest';
import { exportResults, formatFromPath } from '../../src/sim/export.js';
import { tempDir } from '../helpers/traces.js';

const dir = tempDir('ckv-export-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const table = aq.table({
  method: ['clusterkv', 'full', 'oracle'],
  clusters: [8, null, null],
  budget: [256, null, 256],
  massRecall: [0.875, 1, 0.96875],
  diagnostics: [true, false, true],
});

describe('exportResults', () => {
  it('writes CSV that reads back to the same rows', () => {
    expect(exportResults(table, path.join(dir, 'r.csv'))).toBe('csv');
    expect(aq.fromCSV(readFileSync(path.join(dir, 'r.csv'), 'utf8')).objects()).toEqual(table.objects());
  });

  it('writes an Arrow IPC file (ARROW1 magic at both ends) that reads back to the same rows', () => {
    expect(exportResults(table, path.join(dir, 'r.arrow'))).toBe('arrow');
    const bytes = readFileSync(path.join(dir, 'r.arrow'));
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
    expect(bytes.subarray(bytes.length - 6).toString('latin1')).toBe('ARROW1');
    expect(aq.fromArrow(new Uint8Array(bytes)).objects()).toEqual(table.objects());
  });

  it('writes JSON lines, one object per row, NaN as null', () => {
    const withNaN = table.derive({ err: aq.escape((d: { method: string }) => (d.method === 'full' ? Number.NaN : 0.5)) });
    expect(exportResults(withNaN, path.join(dir, 'r.data'), 'jsonl')).toBe('jsonl');
    const lines = readFileSync(path.join(dir, 'r.data'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[1]).toEqual({ method: 'full', clusters: null, budget: null, massRecall: 1, diagnostics: false, err: null });
    expect(lines[0].err).toBe(0.5);
  });

  it('names the extension it cannot map and the format it does not know', () => {
    expect(() => formatFromPath('results.xlsx')).toThrow(/'results\.xlsx'.*\.csv, \.arrow/);
    expect(() => exportResults(table, path.join(dir, 'x.csv'), 'parquet' as never)).toThrow(/one of csv, arrow, jsonl, got 'parquet'/);
  });
});
