/** `clusterkv methods [--json]`: every method, every parameter with its default and meaning, from the definitions. */
import type { Command } from 'commander';
import { METHODS } from '../../sim/methods/index.js';

export interface MethodDescription {
  name: string;
  summary: string;
  budgeted: boolean;
  params: { name: string; default: string | number | boolean | null; accepts: string; meaning: string }[];
}

/** The registry as plain data (what `--json` prints). */
export function describeMethods(): MethodDescription[] {
  return METHODS.map((m) => ({
    name: m.name,
    summary: m.summary,
    budgeted: m.budgeted,
    params: Object.entries(m.params).map(([name, p]) => ({ name, default: p.default ?? null, accepts: p.accepts, meaning: p.doc })),
  }));
}

function formatMethods(methods: MethodDescription[]): string {
  const lines: string[] = [];
  for (const m of methods) {
    lines.push(`${m.name}: ${m.summary}`);
    if (m.params.length === 0) lines.push('  (no parameters)');
    const width = Math.max(0, ...m.params.map((p) => p.name.length));
    const defWidth = Math.max(0, ...m.params.map((p) => (p.default === null ? 'required' : String(p.default)).length));
    for (const p of m.params) {
      const def = p.default === null ? 'required' : String(p.default);
      lines.push(`  ${p.name.padEnd(width)}  ${def.padEnd(defWidth)}  ${p.meaning} (${p.accepts})`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('methods')
    .description('list every method with every parameter, its default and what it means')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const methods = describeMethods();
      console.log(flags.json ? JSON.stringify(methods, null, 2) : formatMethods(methods).trimEnd());
    });
}
