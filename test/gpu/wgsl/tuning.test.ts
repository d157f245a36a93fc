/** The one way to override a kernel family's tuning knobs (src/gpu/wgsl/runtime/tuning.ts). */
import { describe, expect, it } from 'vitest';
import { attentionTuning } from '../../../src/gpu/wgsl/attention/decode-attention.js';
import { gemvTuning } from '../../../src/gpu/wgsl/engine/gemv.js';
import { kmeansTuning } from '../../../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { tunable, tuningDefaults, withTuning } from '../../../src/gpu/wgsl/runtime/tuning.js';
import { selectTuning } from '../../../src/gpu/wgsl/select/select-clusters.js';

describe('withTuning', () => {
  it('holds the overrides while f runs and restores the previous values after it returns, throws or rejects', async () => {
    const knobs = tunable({ chunk: 64, loads: 'perHead' as 'perHead' | 'shared' });
    expect(withTuning(knobs, { chunk: 16 }, () => ({ ...knobs }))).toEqual({ chunk: 16, loads: 'perHead' });
    expect(knobs).toEqual({ chunk: 64, loads: 'perHead' });
    // nested: the inner call restores the outer override, the outer one the defaults
    withTuning(knobs, { chunk: 16 }, () => {
      withTuning(knobs, { chunk: 8, loads: 'shared' }, () => expect(knobs).toEqual({ chunk: 8, loads: 'shared' }));
      expect(knobs).toEqual({ chunk: 16, loads: 'perHead' });
    });
    expect(() => withTuning(knobs, { chunk: 1 }, () => { throw new Error('boom'); })).toThrow('boom');
    expect(knobs.chunk).toBe(64);
    const pending = withTuning(knobs, { chunk: 2 }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      expect(knobs.chunk).toBe(2);
      throw new Error('late');
    });
    expect(knobs.chunk).toBe(2);
    await expect(pending).rejects.toThrow('late');
    expect(knobs).toEqual(tuningDefaults(knobs));
  });

  it('refuses a knob the family does not have, and an object not made by tunable', () => {
    const knobs = tunable({ parts: 16 });
    expect(() => withTuning(knobs, { part: 4 } as never, () => 0)).toThrow("unknown tuning knob 'part' (the family has parts)");
    expect(() => withTuning({ parts: 16 }, { parts: 4 }, () => 0)).toThrow(/not a knob object made by tunable/);
  });

  it('every kernel family has one knob object at its defaults', () => {
    for (const knobs of [attentionTuning, selectTuning, kmeansTuning, gemvTuning] as object[]) {
      expect(knobs).toEqual(tuningDefaults(knobs));
      expect(Object.isFrozen(tuningDefaults(knobs))).toBe(true);
    }
  });
});
