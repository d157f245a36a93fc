/**
 * `clusterkv methods [--json]`: every method, every parameter with its default and meaning, and how the
 * WebGPU decode engine runs it, from the definitions.
 */
import type { Command } from 'commander';
import { declaredEngine, METHODS } from '../../sim/methods/index.js';

export interface MethodDescription {
  name: string;
  summary: string;
  budgeted: boolean;
  params: { name: string; default: string | number | boolean | null; accepts: string; meaning: string }[];
  /** how the decode engine runs it: its dense attention, the method's batched selection, or not (the reference path only, and why) */
  engine: { kind: 'dense' | 'batched' | 'reference'; reason?: string; referenceOnlyWhen?: { params: string; reason: string } };
}

/** One line on how the engine runs a method. */
function engineLine(e: MethodDescription['engine']): string {
  if (e.kind === 'dense') return 'engine: dense attention';
  if (e.kind === 'batched') return `engine: batched selection on the GPU${e.referenceOnlyWhen ? `; with ${e.referenceOnlyWhen.params} the reference path only (${e.referenceOnlyWhen.reason})` : ''}`;
  return `engine: reference path only (${e.reason})`;
}

/** The registry as plain data (what `--json` prints). */
export function describeMethods(): MethodDescription[] {
  return METHODS.map((m) => ({
    name: m.name,
    summary: m.summary,
    budgeted: m.budgeted,
    params: Object.entries(m.params).map(([name, p]) => ({ name, default: p.default ?? null, accepts: p.accepts, meaning: p.doc })),
    engine: engineOf(m),
  }));
}

function engineOf(m: (typeof METHODS)[number]): MethodDescription['engine'] {
  const form = declaredEngine(m);
  if (form.kind === 'reference') return { kind: form.kind, reason: form.reason };
  const when = form.kind === 'batched' ? form.referenceOnlyWhen : undefined;
  return when ? { kind: form.kind, referenceOnlyWhen: { params: when.params, reason: when.reason } } : { kind: form.kind };
}

function formatMethods(methods: MethodDescription[]): string {
  const lines: string[] = [];
  for (const m of methods) {
    lines.push(`${m.name}: ${m.summary}`);
    lines.push(`  ${engineLine(m.engine)}`);
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
