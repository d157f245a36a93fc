/**
 * Warnings: one line `clusterkv: warning: ...` on stderr for a run that goes on but does not measure what
 * it seems to (a budget that covers every position, a context past the model's). Printed before any
 * progress bar starts, so no bar tears it.
 */
export function warn(message: string): void {
  process.stderr.write(`clusterkv: warning: ${message}\n`);
}

/**
 * Budgets at or above the positions a method selects from attend densely (every position, recall 1): named
 * in one warning, e.g. `--budgets 4096: at or above the 4080 prompt positions of t.safetensors, ...`.
 */
export function warnDenseBudgets(option: string, budgets: readonly number[], positions: number, what: string): void {
  const dense = [...new Set(budgets.filter((b) => b >= positions))];
  if (dense.length === 0) return;
  const those = dense.length === 1 ? 'that budget selects' : 'those budgets select';
  warn(`${option} ${dense.join(',')}: at or above the ${positions} ${what}, so ${those} every position (dense attention, recall 1); budgets below ${positions} compare methods`);
}
