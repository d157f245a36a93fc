/** SHA-256 of what a passkey eval depends on: the model (a file, or an HF folder's config and weights), the tokenizer, the filler text. */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileSha256 } from '../capture.js';

export function textSha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A file's SHA-256; for a folder (a Hugging Face checkpoint), one over its .json and .safetensors files by name. */
export async function pathSha256(p: string): Promise<string> {
  if (!statSync(p).isDirectory()) return fileSha256(p);
  const files = readdirSync(p).filter((f) => /\.(json|safetensors)$/.test(f)).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}:${await fileSha256(path.join(p, f))}\n`);
  return hash.digest('hex');
}
