/** A malformed, truncated or inconsistent trace file, or a bad request against one. The message names the
 * file, the field and what was expected versus found. The CLI prints it as one line (it matches by name). */
export class TraceError extends Error {
  override name = 'TraceError';
  constructor(message: string) {
    super(message);
  }
}
