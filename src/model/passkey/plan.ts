/**
 * The documents of a passkey grid: contexts x depths x key indices, every random choice from one seed.
 * Key index i has one key and one filler offset for every context and depth, so depths and contexts are
 * compared on the same key and the same passage (only the needle's place and the passage's length change).
 */
import { mulberry32 } from '../../trace/random.js';
import { passkeySeed } from '../../trace/seeds.js';
import { ModelError } from '../errors.js';

export interface PasskeyGrid {
  /** document lengths in tokens (BOS and question included, answer excluded) */
  contexts: readonly number[];
  /** needle depths in [0, 1]: the share of the filler before the needle */
  depths: readonly number[];
  /** keys (documents) per context and depth */
  keys: number;
  seed: number;
}

export interface PasskeyDocumentSpec {
  /** c<context>-d<depth>-k<key index>, unique in a grid */
  id: string;
  context: number;
  depth: number;
  keyIndex: number;
  /** the key, keyDigits decimal digits */
  key: string;
  /** where the filler passage starts in the filler text (characters, before snapping to a word start) */
  fillerOffset: number;
}

/** Key `keyIndex` of a seed: `digits` decimal digits, the first not 0. */
export function passkeyKey(seed: number, keyIndex: number, digits: number): string {
  const lo = 10 ** (digits - 1);
  return String(lo + Math.floor(mulberry32(passkeySeed(seed, keyIndex, 0))() * 9 * lo));
}

/** Filler offset of key index `keyIndex`: uniform over the text's characters. */
export function passkeyFillerOffset(seed: number, keyIndex: number, textLength: number): number {
  return Math.floor(mulberry32(passkeySeed(seed, keyIndex, 1))() * textLength);
}

export function documentId(context: number, depth: number, keyIndex: number): string {
  return `c${context}-d${depth}-k${keyIndex}`;
}

/** Every document of the grid, contexts outermost, then depths, then keys. */
export function planDocuments(grid: PasskeyGrid, fillerLength: number, keyDigits: number): PasskeyDocumentSpec[] {
  if (grid.contexts.length === 0 || grid.depths.length === 0) throw new ModelError('the passkey grid needs at least one context and one depth');
  if (!Number.isInteger(grid.keys) || grid.keys < 1) throw new ModelError(`--keys must be an integer >= 1, got ${grid.keys}`);
  if (!Number.isInteger(grid.seed) || grid.seed < 0) throw new ModelError(`--seed must be an integer >= 0, got ${grid.seed}`);
  for (const d of grid.depths) if (!(d >= 0 && d <= 1)) throw new ModelError(`--depths must lie in [0, 1], got ${d}`);
  for (const c of grid.contexts) if (!Number.isInteger(c) || c < 1) throw new ModelError(`--contexts must be positive integers, got ${c}`);
  if (fillerLength < 1) throw new ModelError('the filler text is empty');
  const out: PasskeyDocumentSpec[] = [];
  for (const context of [...new Set(grid.contexts)]) {
    for (const depth of [...new Set(grid.depths)]) {
      for (let k = 0; k < grid.keys; k++) {
        out.push({ id: documentId(context, depth, k), context, depth, keyIndex: k, key: passkeyKey(grid.seed, k, keyDigits), fillerOffset: passkeyFillerOffset(grid.seed, k, fillerLength) });
      }
    }
  }
  return out;
}
