/**
 * Budget accounting shared by every method, so that equal-budget comparisons are honest.
 *
 * At a decode step whose query sits at `position` p (it attends keys 0..p), with prompt length P:
 *   sinks        [0, sinkEnd)            always attended (sinkEnd = min(sinks, openStart))
 *   selectable   [sinkEnd, openStart)    prompt tokens and closed decode windows: methods choose from here
 *   open window  [openStart, p)          generated tokens of the window still filling, attended densely
 *   current      p                       the token being decoded, always attended
 * Closed windows: the generated tokens P..p-1 are grouped in windows of `window` tokens; every full window
 * is closed (ClusterKV clusters it on its own); the rest is the open window.
 *
 * B counts selected tokens only (mode 'selected', the default: sinks, window and current on top) or
 * includes the sinks (mode 'including-sinks').
 */
export type BudgetMode = 'selected' | 'including-sinks';
export const BUDGET_MODES: readonly BudgetMode[] = ['selected', 'including-sinks'];

export interface DecodeLayout {
  position: number;
  sinkEnd: number;
  openStart: number;
  /** number of closed (full) decode windows */
  closedWindows: number;
}

export function decodeLayout(position: number, prefillLength: number, sinks: number, window: number): DecodeLayout {
  if (!Number.isInteger(position) || position < 0) throw new RangeError(`position must be a non-negative integer, got ${position}`);
  const generatedBefore = Math.max(0, position - prefillLength);
  const closedWindows = window > 0 ? Math.floor(generatedBefore / window) : 0;
  const openStart = Math.min(position, Math.max(0, Math.min(prefillLength, position)) + closedWindows * window);
  const sinkEnd = Math.min(sinks, openStart);
  return { position, sinkEnd, openStart, closedWindows };
}

/** Number of tokens a method may choose from the selectable range under budget B. */
export function selectableBudget(budget: number, mode: BudgetMode, layout: DecodeLayout): number {
  const selectable = layout.openStart - layout.sinkEnd;
  const b = mode === 'including-sinks' ? budget - layout.sinkEnd : budget;
  return Math.max(0, Math.min(b, selectable));
}

/** How many positions are forced (sinks, open window, current token). */
export function forcedCount(layout: DecodeLayout): number {
  return layout.sinkEnd + (layout.position - layout.openStart + 1);
}

/** Forced positions (sinks, open window, current token), ascending. */
export function forcedPositions(layout: DecodeLayout): Int32Array {
  const out = new Int32Array(forcedCount(layout));
  let i = 0;
  for (let t = 0; t < layout.sinkEnd; t++) out[i++] = t;
  for (let t = layout.openStart; t <= layout.position; t++) out[i++] = t;
  return out;
}

export function validateBudget(budget: number, mode: BudgetMode, sinks: number): void {
  if (!Number.isInteger(budget) || budget <= 0) throw new RangeError(`budget must be a positive integer, got ${budget}`);
  if (!BUDGET_MODES.includes(mode)) throw new RangeError(`budget mode must be one of ${BUDGET_MODES.join(', ')}, got '${mode}'`);
  if (mode === 'including-sinks' && budget <= sinks) {
    throw new RangeError(`budget ${budget} includes the ${sinks} sinks and leaves no token to select (budget mode 'including-sinks')`);
  }
}

/** The parameters that fix a step's forced set and budget (every budgeted method has them: budget-params.ts). */
export interface ForcedSetParams {
  budget: number;
  budgetMode: BudgetMode;
  sinks: number;
  window: number;
}
