/**
 * One passkey document, built exactly in the model's format (format.ts):
 *   text   = INTRO + FILLER[:cut] + NEEDLE + FILLER[cut:] + QUESTION, cut = floor(depth * len(FILLER))
 *   tokens = the tokenization of text as a whole (BOS first), exactly `context` tokens where some filler
 *            length gives that many (else the longest filler below it)
 *   answer = the tokens past the document's in the tokenization of text + ANSWER
 * FILLER is a contiguous passage of the filler text from the spec's offset (moved to the next word start),
 * wrapping to the text's start when the text ends. The needle's token positions (and those of the key's
 * digits inside it) come from the tokens' character spans, for needle recall.
 */
import { ModelError } from '../errors.js';
import type { TextTokenizer } from '../tokenizer.js';
import { fillKey, type PasskeyFormat } from './format.js';
import type { PasskeyDocumentSpec } from './plan.js';

/** Between the end of the filler text and its start when a passage wraps around. */
const WRAP_SEPARATOR = '\n\n';

export interface PasskeyDocument extends PasskeyDocumentSpec {
  text: string;
  /** the prompt's token ids (BOS first) */
  tokens: number[];
  /** the expected continuation's ids */
  answer: number[];
  answerText: string;
  /** where the passage starts in the filler text (the offset moved to a word start) */
  passageStart: number;
  /** the passage's length and the needle's place in it, in characters */
  fillerChars: number;
  cut: number;
  /** [start, end) of the needle in text, characters */
  needleChars: [number, number];
  /** positions of the tokens that overlap the needle, ascending */
  needlePositions: number[];
  /** positions of the tokens that overlap an occurrence of the key inside the needle, ascending */
  keyPositions: number[];
}

/** The first word start at or after `offset` (the offset itself when a word starts there). */
export function wordStart(text: string, offset: number): number {
  let i = Math.min(Math.max(0, offset), text.length);
  if (i > 0 && !/\s/.test(text[i - 1])) while (i < text.length && !/\s/.test(text[i])) i++;
  while (i < text.length && /\s/.test(text[i])) i++;
  return i < text.length ? i : 0;
}

/** `chars` characters of text from `start`, wrapping to the start (after a blank line) at the end. */
export function fillerPassage(text: string, start: number, chars: number): string {
  let out = text.slice(start, start + chars);
  while (out.length < chars) out += (WRAP_SEPARATOR + text).slice(0, chars - out.length);
  return out;
}

/** [start, end) character span of every token of `ids` in the text they decode to. */
export function tokenCharSpans(tokenizer: TextTokenizer, ids: readonly number[]): { spans: [number, number][]; text: string } {
  const decode = tokenizer.streamDecoder();
  const spans: [number, number][] = [];
  let text = '';
  for (const id of ids) {
    const start = text.length;
    text += decode(id);
    spans.push([start, text.length]);
  }
  return { spans, text };
}

/** Positions of the tokens whose span overlaps [from, to). */
function overlapping(spans: readonly [number, number][], from: number, to: number): number[] {
  const out: number[] = [];
  spans.forEach(([s, e], i) => {
    if (e > s && s < to && e > from) out.push(i);
  });
  return out;
}

export function buildPasskeyDocument(tokenizer: TextTokenizer, fillerText: string, spec: PasskeyDocumentSpec, format: PasskeyFormat): PasskeyDocument {
  if (spec.key.length !== format.keyDigits || !/^\d+$/.test(spec.key)) throw new ModelError(`document ${spec.id}: key '${spec.key}' is not ${format.keyDigits} digits`);
  const needle = fillKey(format.needle, format, spec.key);
  const passageStart = wordStart(fillerText, spec.fillerOffset);
  const compose = (chars: number) => {
    const filler = fillerPassage(fillerText, passageStart, chars);
    const cut = Math.floor(spec.depth * filler.length);
    const text = format.intro + filler.slice(0, cut) + needle + filler.slice(cut) + format.question;
    return { text, cut, chars };
  };
  const count = (chars: number) => tokenizer.encode(compose(chars).text).length;
  const bare = count(0);
  if (bare > spec.context) throw new ModelError(`document ${spec.id}: intro, needle and question alone take ${bare} tokens, more than the context ${spec.context}`);
  // the longest filler with at most `context` tokens: bisect, then look a little further for an exact fit
  // (merges make the count step unevenly with the characters)
  let lo = 0;
  let hi = Math.max(16, spec.context * 2);
  while (count(hi) <= spec.context) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (count(mid) <= spec.context) lo = mid;
    else hi = mid;
  }
  let chars = lo;
  if (count(lo) < spec.context) {
    for (let n = lo + 16; n > lo; n--) {
      if (count(n) === spec.context) {
        chars = n;
        break;
      }
    }
  }
  const { text, cut } = compose(chars);
  const tokens = tokenizer.encode(text);
  const answerText = fillKey(format.answer, format, spec.key);
  const withAnswer = tokenizer.encode(text + answerText);
  if (withAnswer.length <= tokens.length || tokens.some((id, i) => withAnswer[i] !== id)) {
    throw new ModelError(`document ${spec.id}: the answer ${JSON.stringify(answerText)} merges with the question's last token, so it is not a continuation of the document's tokens (change the format's question or answer)`);
  }
  const decoded = tokenCharSpans(tokenizer, tokens);
  if (decoded.text !== text) throw new ModelError(`document ${spec.id}: the tokenizer does not decode the document back to its text, so the needle's token positions are unknown`);
  const needleStart = format.intro.length + cut;
  const needleEnd = needleStart + needle.length;
  const keyPositions = new Set<number>();
  for (let at = needle.indexOf(spec.key); at >= 0; at = needle.indexOf(spec.key, at + 1)) {
    for (const p of overlapping(decoded.spans, needleStart + at, needleStart + at + spec.key.length)) keyPositions.add(p);
  }
  return {
    ...spec,
    text,
    tokens,
    answer: withAnswer.slice(tokens.length),
    answerText,
    passageStart,
    fillerChars: chars,
    cut,
    needleChars: [needleStart, needleEnd],
    needlePositions: overlapping(decoded.spans, needleStart, needleEnd),
    keyPositions: [...keyPositions].sort((a, b) => a - b),
  };
}
