/** Errors of src/plot caused by input (a table without a needed column, Chromium missing): shown as one line. */
export class PlotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlotError';
  }
}
