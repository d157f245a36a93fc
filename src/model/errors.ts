/** Errors of the model room: a bad checkpoint or tokenizer file, or a model used outside its limits. */

/** A checkpoint or tokenizer file that cannot be loaded: the message names the file and what is wrong. */
export class CheckpointError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

/** A model asked to do something it cannot (token id out of range, empty input, ...). */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}
