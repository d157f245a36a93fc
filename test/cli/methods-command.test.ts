/**
 * `clusterkv methods`: every registered method with how the decode engine runs it (dense attention, its
 * batched selection, or the reference path only with the reason; infinigen: batched but for one parameter value),
 * in text and in --json.
 */
import { describe, expect, it } from 'vitest';
import { METHODS } from '../../src/sim/methods/index.js';
import { runCliCaptured } from '../helpers/cli.js';

describe('clusterkv methods', () => {
  it('says for every method how the decode engine runs it', async () => {
    const json = await runCliCaptured(['methods', '--json']);
    expect(json.code).toBe(0);
    const methods = JSON.parse(json.stdout) as { name: string; engine: { kind: string; reason?: string } }[];
    expect(methods.map((m) => m.name)).toEqual(METHODS.map((m) => m.name));
    for (const m of methods) {
      expect(['dense', 'batched', 'reference'], m.name).toContain(m.engine.kind);
      if (m.engine.kind === 'reference') expect(m.engine.reason, m.name).toMatch(/\w/);
    }
    expect(methods.find((m) => m.name === 'full')!.engine).toEqual({ kind: 'dense' });
    expect(methods.find((m) => m.name === 'clusterkv')!.engine).toEqual({ kind: 'batched' });
    const text = await runCliCaptured(['methods']);
    expect(text.stdout).toMatch(/^full: .*\n {2}engine: dense attention$/m);
    expect(text.stdout).toMatch(/^quest: .*\n {2}engine: batched selection on the GPU$/m);
    expect(text.stdout.match(/^ {2}engine: /gm)!.length).toBe(METHODS.length);
    // a method whose engine form depends on a parameter says which runs where
    const infinigen = methods.find((m) => m.name === 'infinigen')!.engine as { kind: string; referenceOnlyWhen?: { params: string; reason: string } };
    expect(infinigen.kind).toBe('batched');
    expect(infinigen.referenceOnlyWhen?.params).toBe("query = 'speculated'");
    expect(text.stdout).toMatch(/^infinigen: .*\n {2}engine: batched selection on the GPU; with query = 'speculated' the reference path only \(.*previous layer's attention input.*\)$/m);
  });
});
