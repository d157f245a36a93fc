import { expect } from 'vitest';
import type { Figure } from '../../src/plot/index.js';

/** Every figure says what it compares: a title, titled axes, and a legend or a colour bar. */
export function expectLabelled(fig: Figure): void {
  expect(fig.title.length).toBeGreaterThan(10);
  expect(JSON.stringify(fig.layout.title)).toContain(fig.title.slice(0, 20));
  const axes = Object.entries(fig.layout).filter(([k]) => /^[xy]axis\d*$/.test(k));
  expect(axes.length).toBeGreaterThanOrEqual(2);
  for (const [name, a] of axes) expect((a as { title?: { text?: string } }).title?.text, name).toMatch(/\w/);
  const legendOrColorbar = fig.data.some((t) => t.showlegend !== false && t.name) || fig.data.some((t) => t.showscale === true);
  expect(legendOrColorbar).toBe(true);
}
