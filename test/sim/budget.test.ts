import { describe, expect, it } from 'vitest';
import { decodeLayout, forcedPositions, selectableBudget, validateBudget } from '../../src/sim/budget.js';

describe('budget accounting', () => {
  it('splits positions into sinks, selectable, open window and current token', () => {
    // prompt 0..999, decode steps from 1000; window 320
    const first = decodeLayout(1000, 1000, 16, 320);
    expect(first).toEqual({ position: 1000, sinkEnd: 16, openStart: 1000, closedWindows: 0 });
    expect(Array.from(forcedPositions(first))).toEqual([...Array.from({ length: 16 }, (_, i) => i), 1000]);
    const mid = decodeLayout(1100, 1000, 16, 320);
    expect(mid.openStart).toBe(1000);
    expect(forcedPositions(mid).length).toBe(16 + 101);
    // 320 generated tokens before position 1320: that window is closed and selectable
    const closed = decodeLayout(1320, 1000, 16, 320);
    expect(closed).toEqual({ position: 1320, sinkEnd: 16, openStart: 1320, closedWindows: 1 });
    expect(decodeLayout(1319, 1000, 16, 320).closedWindows).toBe(0);
  });

  it('counts the budget with or without the sinks and never past the selectable range', () => {
    const layout = decodeLayout(1000, 1000, 16, 320);
    expect(selectableBudget(256, 'selected', layout)).toBe(256);
    expect(selectableBudget(256, 'including-sinks', layout)).toBe(240);
    expect(selectableBudget(5000, 'selected', layout)).toBe(1000 - 16);
  });

  it('handles prompts shorter than the sinks', () => {
    const layout = decodeLayout(10, 8, 16, 320);
    expect(layout.sinkEnd).toBe(8);
    expect(selectableBudget(100, 'selected', layout)).toBe(0);
    expect(forcedPositions(layout).length).toBe(11);
  });

  it('rejects bad budgets by name', () => {
    expect(() => validateBudget(0, 'selected', 16)).toThrow(/budget must be a positive integer, got 0/);
    expect(() => validateBudget(-5, 'selected', 16)).toThrow(/budget/);
    expect(() => validateBudget(16, 'including-sinks', 16)).toThrow(/includes the 16 sinks/);
    expect(() => validateBudget(64, 'bogus' as never, 16)).toThrow(/budget mode/);
  });
});
