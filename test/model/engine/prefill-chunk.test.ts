// The prefill's rows per chunk: the measured default (bench/README.md, "H100"), capped at a session's capacity so
// that a short prompt does not allocate a 4096-row chunk's buffers.
import { describe, expect, it } from 'vitest';
import { PREFILL_CHUNK, prefillChunkFor } from '../../../src/model/engine/prefill.js';

describe('prefillChunkFor', () => {
  it('is the default, at most the capacity', () => {
    expect(PREFILL_CHUNK).toBe(4096);
    expect(prefillChunkFor(32768)).toBe(4096);
    expect(prefillChunkFor(600)).toBe(600);
    expect(prefillChunkFor(600, 256)).toBe(256);
    expect(prefillChunkFor(0)).toBe(1);
  });
});
