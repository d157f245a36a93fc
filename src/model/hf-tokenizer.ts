/** Hugging Face tokenizer.json (with tokenizer_config.json beside it when present) through @huggingface/tokenizers. */
import { Tokenizer } from '@huggingface/tokenizers';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from './errors.js';
import { readJsonObject } from './json-file.js';
import type { TextTokenizer } from './tokenizer.js';

export class HfTokenizer implements TextTokenizer {
  readonly bos?: number;
  readonly stopIds: number[];

  private constructor(
    private readonly tokenizer: Tokenizer,
    config: Record<string, unknown>,
    extraStopIds: number[],
  ) {
    const idOf = (token: unknown): number | undefined => {
      const text = typeof token === 'string' ? token : (token as { content?: string } | null)?.content;
      return text === undefined ? undefined : tokenizer.token_to_id(text);
    };
    this.bos = idOf(config.bos_token);
    const eos = idOf(config.eos_token);
    this.stopIds = [...new Set([...(eos === undefined ? [] : [eos]), ...extraStopIds])];
  }

  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size;
  }

  /** Loads tokenizer.json; tokenizer_config.json and the model's config.json beside it give BOS/EOS. */
  static async load(path: string): Promise<HfTokenizer> {
    const json = await readJsonObject(path);
    const dir = dirname(path);
    const configPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(configPath) ? await readJsonObject(configPath) : {};
    const modelConfigPath = join(dir, 'config.json');
    const modelConfig = existsSync(modelConfigPath) ? await readJsonObject(modelConfigPath) : {};
    const eos = modelConfig.eos_token_id;
    const extra = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]).filter((x): x is number => typeof x === 'number');
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (err) {
      throw new CheckpointError(path, `not a usable tokenizer.json (${(err as Error).message})`);
    }
    return new HfTokenizer(tokenizer, config, extra);
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** Decodes the ids so far and emits what the text grew by (tokens can change how earlier ones print). */
  streamDecoder(): (id: number) => string {
    const ids: number[] = [];
    let printed = '';
    return (id: number) => {
      ids.push(id);
      const text = this.decode(ids);
      // hold back a trailing replacement char: an incomplete multi-byte sequence
      if (text.endsWith('\ufffd') || !text.startsWith(printed)) return '';
      const out = text.slice(printed.length);
      printed = text;
      return out;
    };
  }
}
