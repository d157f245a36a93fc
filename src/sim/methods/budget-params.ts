/**
 * The parameters every budgeted method shares, declared once: the budget, how it is counted, the forced set
 * (sinks and decode window, see src/sim/budget.ts) and the dense first layers. Equal-budget fairness rests
 * on every method taking these from here, with these defaults.
 */
import { BUDGET_MODES, validateBudget, type BudgetMode } from '../budget.js';
import { choiceParam, intParam } from './define.js';

export const BUDGET_PARAMS = {
  budget: intParam(undefined, 1, 'token budget B: tokens chosen per query head and decode step (the forced set is on top)'),
  budgetMode: choiceParam<BudgetMode>('selected', BUDGET_MODES, "'selected': B counts chosen tokens only; 'including-sinks': B includes the sinks"),
  sinks: intParam(16, 0, 'first tokens, always attended and never chosen (attention sinks)'),
  window: intParam(320, 1, 'generated tokens per decode window: the open window is attended densely, a full one becomes selectable'),
  denseLayers: intParam(2, 0, 'first layers attended densely by every budgeted method (the paper keeps 2)'),
} as const;

/** Checks across the shared parameters (a budget that includes the sinks must leave tokens to choose). */
export function validateBudgetParams(method: string, p: { budget: number; budgetMode: BudgetMode; sinks: number }): void {
  try {
    validateBudget(p.budget, p.budgetMode, p.sinks);
  } catch (err) {
    throw new RangeError(`${method}: ${(err as Error).message}`);
  }
}
