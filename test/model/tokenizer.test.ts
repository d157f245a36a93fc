/** llama2.c tokenizer: the heap-based merge equals llama2.c's quadratic loop (an independent reference here). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Llama2cTokenizer } from '../../src/model/llama2c-tokenizer.js';

const TOKENIZER = path.resolve(process.cwd(), '../shared/models/stories260K/tok512.bin');
const bytes = readFileSync(TOKENIZER);
const tok = Llama2cTokenizer.parse(bytes, 512, TOKENIZER);

/** llama2.c run.c encode(), transcribed loop for loop. */
function referenceEncode(text: string): number[] {
  const vocab: string[] = [];
  const scores: number[] = [];
  let at = 4;
  for (let i = 0; i < 512; i++) {
    scores.push(bytes.readFloatLE(at));
    const len = bytes.readInt32LE(at + 4);
    vocab.push(bytes.subarray(at + 8, at + 8 + len).toString('latin1'));
    at += 8 + len;
  }
  const lookup = (s: string) => vocab.indexOf(s);
  const tokens = [1];
  if (text !== '') tokens.push(lookup(' '));
  for (const ch of text) {
    const b = Buffer.from(ch, 'utf8');
    const id = lookup(b.toString('latin1'));
    if (id >= 0) tokens.push(id);
    else for (const x of b) tokens.push(x + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup(vocab[tokens[i]] + vocab[tokens[i + 1]]);
      if (id !== -1 && scores[id] > best) {
        best = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

describe('llama2.c tokenizer', () => {
  it('encodes a real text like llama2.c and decodes it back', () => {
    const mobyDick = readFileSync(path.join(__dirname, '..', '..', 'texts', 'moby-dick.txt'), 'utf8');
    const text = mobyDick.slice(20000, 23000);
    const ids = tok.encode(text);
    expect(ids).toEqual(referenceEncode(text));
    expect(tok.decode(ids)).toBe(text);
  });

  it('matches the reference on arbitrary unicode strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        expect(tok.encode(s)).toEqual(referenceEncode(s));
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('encodes the empty text as BOS alone and streams multi-byte characters whole', () => {
    expect(tok.encode('')).toEqual([1]);
    const ids = tok.encode('naïve ☃ café');
    const next = tok.streamDecoder(ids[0]);
    const pieces = ids.slice(1).map(next);
    expect(pieces.join('')).toBe('naïve ☃ café');
    expect(pieces.every((p) => !p.includes('\ufffd'))).toBe(true);
  });

  it('rejects a truncated or mismatched tokenizer file naming the file', () => {
    expect(() => Llama2cTokenizer.parse(bytes.subarray(0, 3000), 512, 'tok.bin')).toThrow(/tok\.bin: truncated/);
    expect(() => Llama2cTokenizer.parse(bytes, 500, 'tok.bin')).toThrow(/tok\.bin: .*vocabulary size does not match/);
  });
});
