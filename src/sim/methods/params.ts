/** Checks shared by every method's parameters; errors name the method and the parameter. */
export function requireInt(method: string, name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${method}: parameter '${name}' must be an integer >= ${min}, got ${String(value)}`);
  }
}

export function validateCommon(method: string, params: { budget: number; sinks: number; window: number }): void {
  requireInt(method, 'budget', params.budget, 1);
  requireInt(method, 'sinks', params.sinks, 0);
  requireInt(method, 'window', params.window, 1);
}
