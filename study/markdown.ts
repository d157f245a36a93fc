/** Markdown tables for the study's generated blocks (study/summarize.ts, study/passkey-summary.ts). */

/** A cell: '-' for missing or NaN, integers as they are, other numbers with `digits` decimals. */
export function fmt(v: unknown, digits = 3): string {
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  return String(v);
}

export function markdown(header: string[], rows: unknown[][], digits = 3): string {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.map((v) => fmt(v, digits)).join(' | ')} |`);
  return lines.join('\n');
}
