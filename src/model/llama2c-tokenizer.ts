/**
 * llama2.c's tokenizer.bin (e.g. tok512.bin): int32 max_token_length, then per id: float32 score, int32 len,
 * len bytes. Encoding and decoding follow llama2.c's run.c exactly:
 * encode = BOS, the dummy-prefix " " token when the text is not empty, each UTF-8 code point's id (or its
 * bytes as byte-fallback ids byte + 3), then repeatedly merge the adjacent pair whose concatenation is in the
 * vocabulary with the highest score (first such pair on ties); decode drops the leading space of a piece
 * right after BOS and maps "<0xHH>" pieces to raw bytes.
 */
import { readFile } from 'node:fs/promises';
import { CheckpointError } from './errors.js';
import type { TextTokenizer } from './tokenizer.js';

const BOS = 1;
const EOS = 2;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export class Llama2cTokenizer implements TextTokenizer {
  readonly bos = BOS;
  /** llama2.c stops generating when the model emits BOS (the separator between stories) */
  readonly stopIds = [BOS];
  /** pieces as raw bytes */
  private readonly pieces: Buffer[];
  private readonly scores: Float32Array;
  /** piece (bytes as latin1 string) -> id, first id wins */
  private readonly ids = new Map<string, number>();
  /** pieces as latin1 strings (one char per byte), for merge lookups */
  private readonly latinPieces: string[];

  constructor(pieces: Buffer[], scores: Float32Array) {
    this.pieces = pieces;
    this.scores = scores;
    this.latinPieces = pieces.map((p) => p.toString('latin1'));
    this.latinPieces.forEach((key, id) => {
      if (!this.ids.has(key)) this.ids.set(key, id);
    });
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Parses tokenizer.bin bytes for a vocabulary of `vocabSize` ids. */
  static parse(bytes: Buffer, vocabSize: number, file = 'tokenizer'): Llama2cTokenizer {
    const pieces: Buffer[] = [];
    const scores = new Float32Array(vocabSize);
    if (bytes.length < 4) throw new CheckpointError(file, `truncated: ${bytes.length} bytes, no max_token_length`);
    let at = 4;
    for (let id = 0; id < vocabSize; id++) {
      if (at + 8 > bytes.length) throw new CheckpointError(file, `truncated: the vocabulary should have ${vocabSize} pieces but the file ends at piece ${id} (byte ${bytes.length})`);
      scores[id] = bytes.readFloatLE(at);
      const len = bytes.readInt32LE(at + 4);
      at += 8;
      if (len < 0 || at + len > bytes.length) throw new CheckpointError(file, `truncated or corrupt: piece ${id} claims ${len} bytes at byte ${at}, the file has ${bytes.length}`);
      pieces.push(Buffer.from(bytes.subarray(at, at + len)));
      at += len;
    }
    if (at !== bytes.length) throw new CheckpointError(file, `${bytes.length - at} bytes left after ${vocabSize} pieces: the vocabulary size does not match the model`);
    return new Llama2cTokenizer(pieces, scores);
  }

  static async load(path: string, vocabSize: number): Promise<Llama2cTokenizer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new CheckpointError(path, `cannot read tokenizer (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    return Llama2cTokenizer.parse(bytes, vocabSize, path);
  }

  encode(text: string, bos = true): number[] {
    const tokens: number[] = [];
    if (bos) tokens.push(BOS);
    if (text.length > 0) {
      const prefix = this.ids.get(' ');
      if (prefix !== undefined) tokens.push(prefix);
    }
    for (const ch of text) {
      const bytes = Buffer.from(ch, 'utf8');
      const id = this.ids.get(bytes.toString('latin1'));
      if (id !== undefined) tokens.push(id);
      else for (const b of bytes) tokens.push(b + 3);
    }
    return this.mergePairs(tokens);
  }

  /**
   * llama2.c's merge loop (repeatedly merge the adjacent pair with the highest score, the leftmost on ties)
   * done with a heap over a linked list, so long texts encode in O(n log n) instead of O(n^2): same result.
   */
  private mergePairs(tokens: number[]): number[] {
    const n = tokens.length;
    const id = Int32Array.from(tokens);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap<PairEntry>((a, b) => (a.score !== b.score ? a.score > b.score : a.left < b.left));
    const push = (left: number) => {
      const right = next[left];
      if (left < 0 || right < 0) return;
      const merged = this.ids.get(this.latin1(id[left]) + this.latin1(id[right]));
      if (merged !== undefined) heap.push({ score: this.scores[merged], left, right, merged, leftId: id[left], rightId: id[right] });
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    for (;;) {
      const e = heap.pop();
      if (!e) break;
      // stale: a side was merged away or changed since the entry was made
      if (!alive[e.left] || !alive[e.right] || next[e.left] !== e.right || id[e.left] !== e.leftId || id[e.right] !== e.rightId) continue;
      id[e.left] = e.merged;
      alive[e.right] = 0;
      next[e.left] = next[e.right];
      if (next[e.right] >= 0) prev[next[e.right]] = e.left;
      push(prev[e.left]);
      push(e.left);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(id[i]);
    return out;
  }

  private latin1(id: number): string {
    return this.latinPieces[id];
  }

  /** The bytes id prints as after prev (llama2.c decode). */
  pieceBytes(prev: number, id: number): Buffer {
    let piece = this.pieces[id];
    if (piece === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    if (prev === BOS && piece[0] === 0x20) piece = piece.subarray(1);
    const m = BYTE_PIECE.exec(piece.toString('latin1'));
    return m ? Buffer.from([parseInt(m[1], 16)]) : piece;
  }

  decode(ids: readonly number[]): string {
    const parts: Buffer[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === BOS || ids[i] === EOS) continue;
      parts.push(this.pieceBytes(i > 0 ? ids[i - 1] : -1, ids[i]));
    }
    return Buffer.concat(parts).toString('utf8');
  }

  streamDecoder(previous = -1): (id: number) => string {
    const utf8 = new TextDecoder('utf-8');
    let prev = previous;
    return (id: number) => {
      const bytes = id === BOS || id === EOS ? Buffer.alloc(0) : this.pieceBytes(prev, id);
      prev = id;
      return utf8.decode(bytes, { stream: true });
    };
  }
}

interface PairEntry {
  score: number;
  left: number;
  right: number;
  merged: number;
  leftId: number;
  rightId: number;
}

/** A binary heap; `before(a, b)` says a pops first. */
class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l], a[m])) m = l;
        if (r < a.length && this.before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
