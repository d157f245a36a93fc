/**
 * Warnings: one line `clusterkv: warning: ...` on stderr for a run that goes on but does not measure what
 * it seems to (a budget that covers every position, a context past the model's). A command holds them until
 * its work starts (its first progress, or its end when it had nothing to do): a run that fails on its inputs
 * prints its one error line alone, and no progress bar has started to be torn.
 */
export function warn(message: string): void {
  process.stderr.write(`clusterkv: warning: ${message}\n`);
}

/** Warnings held until the run is known to go ahead. */
export class HeldWarnings {
  private readonly held: string[] = [];

  hold(message: string | undefined): void {
    if (message) this.held.push(message);
  }

  /** Prints the held warnings, once. */
  flush(): void {
    for (const m of this.held.splice(0)) warn(m);
  }
}

/**
 * Budgets at or above the positions a method selects from attend densely (every position, recall 1): one
 * warning naming them, e.g. `--budgets 4096: at or above the 4080 prompt positions of t.safetensors, ...`.
 */
export function denseBudgetsWarning(option: string, budgets: readonly number[], positions: number, what: string): string | undefined {
  const dense = [...new Set(budgets.filter((b) => b >= positions))];
  if (dense.length === 0) return undefined;
  const those = dense.length === 1 ? 'that budget selects' : 'those budgets select';
  return `${option} ${dense.join(',')}: at or above the ${positions} ${what}, so ${those} every position (dense attention, recall 1); budgets below ${positions} compare methods`;
}
