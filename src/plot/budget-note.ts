/** What a budget B counts, from a sweep table's budgetMode column, for figure subtitles. */
import type * as aq from 'arquero';

const MODE_TEXT: Record<string, string> = {
  selected: 'B counts selected tokens; sinks, open window and current token are attended on top',
  'including-sinks': 'B counts selected tokens plus the sinks',
};

export const BUDGET_AXIS_TITLE = 'token budget B (tokens, log scale)';

export function budgetModeNote(table: aq.ColumnTable): string | undefined {
  if (!table.columnNames().includes('budgetMode')) return undefined;
  const modes = [...new Set(table.array('budgetMode') as unknown[])].filter((m) => m !== null && m !== undefined && m !== '');
  return modes.length ? modes.map((m) => MODE_TEXT[String(m)] ?? `budget mode ${String(m)}`).join(' | ') : undefined;
}
