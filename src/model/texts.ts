/** Text inputs for prompts, perplexity and capture: any file, or a named bundled corpus. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../sim/package-root.js';
import { ModelError } from './errors.js';
import type { TextTokenizer } from './tokenizer.js';

/** Named texts: files the package ships (texts/README.md says where they come from; public domain). */
export const NAMED_TEXTS: Record<string, string> = {
  'moby-dick': join('texts', 'moby-dick.txt'),
};

/** The file behind a --text argument: a named text of the package, or a path. */
export function resolveTextPath(arg: string, root = packageRoot()): string {
  const named = NAMED_TEXTS[arg];
  if (named === undefined) return arg;
  if (root && existsSync(join(root, named))) return join(root, named);
  const where = root ? `${join(root, named)} is missing: the clusterkv-lab package is incomplete (reinstall it)` : 'the clusterkv-lab package folder was not found from this script or folder';
  throw new ModelError(`text '${arg}' is a text shipped with clusterkv-lab, but ${where}; or give a text file`);
}

export async function readText(arg: string): Promise<{ path: string; text: string }> {
  const path = resolveTextPath(arg);
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (err) {
    throw new ModelError(`${path}: cannot read text (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * The first `count` tokens of text (BOS first), encoding only as much of the text as needed: a prefix with
 * room to spare, so the kept tokens are the ones the whole text would give.
 */
export function encodePrefix(tokenizer: TextTokenizer, text: string, count: number): number[] {
  for (let chars = Math.max(64, count * 4); ; chars *= 2) {
    const ids = tokenizer.encode(text.slice(0, chars));
    if (ids.length > count + 16 || chars >= text.length) {
      if (ids.length < count) throw new ModelError(`the text gives only ${ids.length} tokens, ${count} are needed`);
      return ids.slice(0, count);
    }
  }
}
