/**
 * Passkey documents (issue 14): built exactly in the model's format with the real tokenizer and Moby Dick,
 * the answer tokenizes as the continuation of the document, the needle sits at the asked depth (in
 * characters exactly, in tokens closely), its token positions hold it, and seeds reproduce everything.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Llama2cTokenizer } from '../../../src/model/llama2c-tokenizer.js';
import { buildPasskeyDocument, fillerPassage, tokenCharSpans, wordStart, type PasskeyDocument } from '../../../src/model/passkey/document.js';
import { CKVLAB_PASSKEY_FORMAT, readPasskeyFormat } from '../../../src/model/passkey/format.js';
import { passkeyKey, planDocuments } from '../../../src/model/passkey/plan.js';
import { readText } from '../../../src/model/texts.js';

const MODELS = path.resolve(process.cwd(), '../shared/models');
const F = CKVLAB_PASSKEY_FORMAT;
let tok: Llama2cTokenizer;
let moby: string;

beforeAll(async () => {
  tok = await Llama2cTokenizer.load(path.join(MODELS, 'stories260K/tok512.bin'), 512);
  moby = (await readText('moby-dick')).text;
});

const build = (context: number, depth: number, keys = 1, seed = 0): PasskeyDocument[] =>
  planDocuments({ contexts: [context], depths: [depth], keys, seed }, moby.length, 5).map((s) => buildPasskeyDocument(tok, moby, s, F));

describe('passkey documents', () => {
  it("are INTRO + FILLER[:cut] + NEEDLE + FILLER[cut:] + QUESTION with cut = floor(depth * len(FILLER)), the filler a passage of the text", () => {
    for (const depth of [0, 0.25, 0.5, 0.75, 1]) {
      const [doc] = build(1024, depth);
      const needle = ` The pass key is ${doc.key}. Remember it. ${doc.key} is the pass key. `;
      expect(doc.text.startsWith(F.intro)).toBe(true);
      expect(doc.text.endsWith('\nWhat is the pass key? The pass key is')).toBe(true);
      const filler = moby.slice(doc.passageStart, doc.passageStart + doc.fillerChars);
      expect(doc.cut).toBe(Math.floor(depth * filler.length));
      expect(doc.text).toBe(F.intro + filler.slice(0, doc.cut) + needle + filler.slice(doc.cut) + F.question);
      expect(doc.text.indexOf(needle)).toBe(F.intro.length + doc.cut);
      expect(doc.needleChars).toEqual([F.intro.length + doc.cut, F.intro.length + doc.cut + needle.length]);
      // the passage starts at a word
      expect(doc.passageStart === 0 || /\s/.test(moby[doc.passageStart - 1])).toBe(true);
    }
  });

  it('have the asked number of tokens (as close below as the merges allow), tokenized as a whole with BOS first', () => {
    for (const context of [512, 2048]) {
      for (const doc of build(context, 0.5, 3)) {
        expect(doc.tokens).toEqual(tok.encode(doc.text));
        expect(doc.tokens[0]).toBe(1);
        expect(doc.tokens.length).toBeLessThanOrEqual(context);
        expect(doc.tokens.length).toBeGreaterThanOrEqual(context - 4);
        // a few more words of filler would not fit
        const filler = fillerPassage(moby, doc.passageStart, doc.fillerChars + 24);
        const cut = Math.floor(0.5 * filler.length);
        const longer = F.intro + filler.slice(0, cut) + doc.text.slice(...doc.needleChars) + filler.slice(cut) + F.question;
        expect(tok.encode(longer).length).toBeGreaterThan(context);
      }
    }
  });

  it('give the answer as the tokens that continue the document: " KEY." in 7 tokens (a space, 5 digits, a period)', () => {
    for (const doc of build(1024, 0.3, 3)) {
      expect(doc.answerText).toBe(` ${doc.key}.`);
      const whole = tok.encode(doc.text + doc.answerText);
      expect(whole.slice(0, doc.tokens.length)).toEqual(doc.tokens);
      expect(whole.slice(doc.tokens.length)).toEqual(doc.answer);
      expect(doc.answer).toHaveLength(7);
      expect(tok.decode(doc.answer)).toBe(` ${doc.key}.`);
    }
  });

  it("locate the needle's and the key's tokens, at the asked depth in tokens too", () => {
    for (const depth of [0, 0.5, 1]) {
      const [doc] = build(2048, depth);
      const needle = doc.text.slice(...doc.needleChars);
      const first = doc.needlePositions[0];
      const last = doc.needlePositions[doc.needlePositions.length - 1];
      expect(doc.needlePositions).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
      // the needle's tokens decode to text that holds the needle, and lose it without their first or last token
      const span = (a: number, b: number) => tok.decode([0, ...doc.tokens.slice(a, b + 1)]);
      expect(span(first, last)).toContain(needle);
      expect(span(first + 1, last)).not.toContain(needle);
      expect(span(first, last - 1)).not.toContain(needle);
      // the key's tokens: both occurrences, inside the needle, and their text holds the digits
      expect(doc.keyPositions.every((p) => p >= first && p <= last)).toBe(true);
      const digits = doc.keyPositions.map((p) => tok.decode([0, doc.tokens[p]])).join('').replace(/\D/g, '');
      expect(digits).toBe(doc.key + doc.key);
      // depth in tokens: the share of the filler tokens before the needle
      const introTokens = tok.encode(F.intro).length;
      const questionTokens = tok.encode(F.question).length - 2; // minus BOS and the dummy-prefix space
      const fillerTokens = doc.tokens.length - introTokens - doc.needlePositions.length - questionTokens;
      expect(Math.abs((first - introTokens) / fillerTokens - depth)).toBeLessThan(0.02);
    }
  });

  it('reproduce from the seed; key i has one key and one filler offset for every context and depth', () => {
    const a = planDocuments({ contexts: [1024, 2048], depths: [0, 0.5], keys: 3, seed: 7 }, moby.length, 5);
    expect(planDocuments({ contexts: [1024, 2048], depths: [0, 0.5], keys: 3, seed: 7 }, moby.length, 5)).toEqual(a);
    expect(a.map((d) => d.id)).toEqual(['c1024-d0-k0', 'c1024-d0-k1', 'c1024-d0-k2', 'c1024-d0.5-k0', 'c1024-d0.5-k1', 'c1024-d0.5-k2', 'c2048-d0-k0', 'c2048-d0-k1', 'c2048-d0-k2', 'c2048-d0.5-k0', 'c2048-d0.5-k1', 'c2048-d0.5-k2']);
    for (const k of [0, 1, 2]) {
      const same = a.filter((d) => d.keyIndex === k);
      expect(new Set(same.map((d) => d.key)).size).toBe(1);
      expect(new Set(same.map((d) => d.fillerOffset)).size).toBe(1);
      expect(same[0].key).toMatch(/^[1-9]\d{4}$/);
    }
    expect(new Set(a.filter((d) => d.context === 1024 && d.depth === 0).map((d) => d.key)).size).toBe(3);
    // a smaller grid is a subset: keys 0..1 of 3
    const b = planDocuments({ contexts: [2048], depths: [0.5], keys: 2, seed: 7 }, moby.length, 5);
    expect(b).toEqual(a.filter((d) => d.context === 2048 && d.depth === 0.5 && d.keyIndex < 2));
    // another seed, other keys and offsets
    const c = planDocuments({ contexts: [1024], depths: [0], keys: 3, seed: 8 }, moby.length, 5);
    expect(c.map((d) => d.key)).not.toEqual(a.slice(0, 3).map((d) => d.key));
    expect(c.map((d) => d.fillerOffset)).not.toEqual(a.slice(0, 3).map((d) => d.fillerOffset));
    // documents rebuild identically
    const [s] = a;
    expect(buildPasskeyDocument(tok, moby, s, F)).toEqual(buildPasskeyDocument(tok, moby, s, F));
    expect(passkeyKey(7, 0, 5)).toBe(s.key);
  });

  it('wrap the passage to the start of the text past its end, and start passages at words', () => {
    expect(fillerPassage('abc def', 4, 10)).toBe('def\n\nabc d');
    expect(wordStart('one two three', 5)).toBe(8);
    expect(wordStart('one two three', 4)).toBe(4);
    expect(wordStart('one two', 7)).toBe(0);
    const spec = { ...planDocuments({ contexts: [512], depths: [0.5], keys: 1, seed: 0 }, moby.length, 5)[0], fillerOffset: moby.length - 100 };
    const doc = buildPasskeyDocument(tok, moby, spec, F);
    expect(doc.text).toContain('\n\n' + moby.slice(0, 20));
    expect(doc.tokens.length).toBeGreaterThanOrEqual(508);
  });

  it('maps every token to its characters', () => {
    const ids = tok.encode('Call me Ishmael. Some years ago');
    const { spans, text } = tokenCharSpans(tok, ids);
    expect(text).toBe('Call me Ishmael. Some years ago');
    expect(spans[0]).toEqual([0, 0]); // BOS
    expect(spans.map(([s, e]) => text.slice(s, e)).join('')).toBe(text);
  });
});

describe('passkey format', () => {
  it("is the model's own by default, and its train.json reads as the same format", () => {
    expect(readPasskeyFormat(path.join(MODELS, 'ckvlab-passkey-9m/train.json'))).toEqual(F);
  });

  it('rejects a format without the key placeholder, a broken file and a context too short, naming them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ckv-fmt-'));
    const bad = path.join(dir, 'f.json');
    writeFileSync(bad, JSON.stringify({ needle: ' The secret is here. ' }));
    expect(() => readPasskeyFormat(bad)).toThrow(/f\.json: 'needle' must contain the key placeholder 'KEY'/);
    writeFileSync(bad, '{');
    expect(() => readPasskeyFormat(bad)).toThrow(/f\.json: cannot read a passkey format/);
    writeFileSync(bad, JSON.stringify({ keyDigits: 'five' }));
    expect(() => readPasskeyFormat(bad)).toThrow(/f\.json: field 'keyDigits'/);
    const [s] = planDocuments({ contexts: [40], depths: [0.5], keys: 1, seed: 0 }, moby.length, 5);
    expect(() => buildPasskeyDocument(tok, moby, s, F)).toThrow(/c40-d0.5-k0: intro, needle and question alone take \d+ tokens, more than the context 40/);
    expect(() => planDocuments({ contexts: [1024], depths: [1.5], keys: 1, seed: 0 }, moby.length, 5)).toThrow(/--depths must lie in \[0, 1\], got 1.5/);
  });
});
