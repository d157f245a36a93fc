/** An error caused by the user's input (bad flag, missing or malformed file): printed as one line, exit 1, no stack. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
