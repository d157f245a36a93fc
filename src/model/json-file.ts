/** A checkpoint's JSON file (config.json, tokenizer.json, tokenizer_config.json, the shard index): one object. */
import { readFile } from 'node:fs/promises';
import { CheckpointError } from './errors.js';

/** The file's JSON object; a file that cannot be read, is no JSON or holds no object is a CheckpointError naming it. */
export async function readJsonObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CheckpointError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError(file, `holds ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a JSON object`);
  }
  return value as Record<string, unknown>;
}
