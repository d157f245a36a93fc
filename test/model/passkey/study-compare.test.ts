/**
 * A passkey eval against the CPU path's results (src/model/passkey/study-compare.ts): the committed study
 * tables read back (study/passkey-tables.md, its passkey-accuracy section), accuracies per (context, method,
 * budget) against them, and answers per (document, cell) against a reference folder's rows.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareAnswers, compareWithStudy, studyAccuracies, type AnswerRow } from '../../../src/model/passkey/study-compare.js';

const root = path.join(__dirname, '..', '..', '..');
const study = studyAccuracies(readFileSync(path.join(root, 'study/passkey-tables.md'), 'utf8'));

const row = (document: string, method: string, budget: number | null, correct: number, generated = ' 12345.'): AnswerRow => ({ document, cell: `${method}-${budget}`, context: 2048, method, budget, correct, generated });

describe('passkey results against the CPU study', () => {
  it("reads the study's accuracy tables per context, method and budget", () => {
    expect([...study.keys()]).toEqual([2048, 4096, 8192]);
    expect(study.get(2048)!.get('clusterkv')!.get(32)).toBe(0.15);
    expect(study.get(2048)!.get('quest')!.get(512)).toBe(0.85);
    // each context's own table, not the pooled ones after the last
    expect(study.get(8192)!.get('full')!.get(256)).toBe(0.8);
    expect(study.get(8192)!.get('oracle')!.get(32)).toBe(0.45);
    expect(study.get(4096)!.get('infllm')!.get(64)).toBe(0);
    expect(() => studyAccuracies('# no tables here')).toThrow(/passkey-accuracy/);
  });

  it('compares accuracies: equal, different, and absent from the tables', () => {
    // 20 documents of context 2048: clusterkv B=32 right on 3 (0.15, the study's), quest B=512 on 16 (0.80, not 0.85)
    const rows = [
      ...Array.from({ length: 20 }, (_, i) => row(`d${i}`, 'clusterkv', 32, i < 3 ? 1 : 0)),
      ...Array.from({ length: 20 }, (_, i) => row(`d${i}`, 'quest', 512, i < 16 ? 1 : 0)),
      ...Array.from({ length: 20 }, (_, i) => row(`d${i}`, 'full', null, i < 19 ? 1 : 0)),
      row('d0', 'mine', 32, 1),
    ];
    const out = compareWithStudy(rows, study);
    const by = (method: string) => out.find((c) => c.method === method)!;
    expect(by('clusterkv')).toMatchObject({ documents: 20, accuracy: 0.15, study: 0.15, equal: true });
    expect(by('quest')).toMatchObject({ accuracy: 0.8, study: 0.85, equal: false });
    // full has no budget: the table's one accuracy
    expect(by('full')).toMatchObject({ accuracy: 0.95, study: 0.95, equal: true });
    expect(by('mine')).toMatchObject({ study: null, equal: null });
  });

  it('compares answers per document and cell, leaving out pairs only one side has', () => {
    const mine = [row('d0', 'quest', 64, 1), row('d1', 'quest', 64, 0, ' 12845.'), row('d2', 'quest', 64, 1)];
    const ref = [row('d0', 'quest', 64, 1), row('d1', 'quest', 64, 1)];
    expect(compareAnswers(mine, ref)).toEqual({ compared: 2, sameAnswers: 1, differing: [{ document: 'd1', cell: 'quest-64', generated: ' 12845.', reference: ' 12345.' }] });
  });
});
