/** What generation and capture need from a tokenizer, whichever file format it came from. */
export interface TextTokenizer {
  readonly vocabSize: number;
  /** BOS id when the tokenizer has one */
  readonly bos?: number;
  /** ids that end generation */
  readonly stopIds: readonly number[];
  /** text -> ids, with the BOS (and whatever the format adds) */
  encode(text: string): number[];
  /** ids -> text */
  decode(ids: readonly number[]): string;
  /**
   * A decoder that turns one id at a time into text, for streaming output; it holds back incomplete
   * UTF-8 sequences until they complete. `previous` is the id before the first one decoded (e.g. the
   * prompt's last id).
   */
  streamDecoder(previous?: number): (id: number) => string;
}
