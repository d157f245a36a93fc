/**
 * The commands the documentation shows (issue 22, item 9: traces/README.md showed `export --heads`, which
 * the CLI rejects): every `clusterkv COMMAND ...` in a code span or block of the Markdown files names a
 * command that exists and only options that command takes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const root = path.join(__dirname, '..', '..');
const DOCS = ['README.md', 'traces/README.md', 'bench/README.md', 'study/README.md', 'notebooks/README.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Code spans and the lines of code blocks of a Markdown text. */
function codeOf(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
  const spans = [...markdown.replace(/```[a-z]*\n[\s\S]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  return [...blocks, ...spans];
}

/** `clusterkv WORDS --flags` uses in code: the command path and its options. */
function commandUses(code: string): { words: string[]; flags: string[]; text: string }[] {
  const out: { words: string[]; flags: string[]; text: string }[] = [];
  for (const m of code.matchAll(/(?:^|[\s(])clusterkv((?: [a-z][a-z0-9-]*)+)([^|;&#]*)/g)) {
    const words = m[1].trim().split(' ');
    out.push({ words, flags: [...(m[1] + m[2]).matchAll(/(?:^|[\s[])(--[a-z][a-z0-9-]*)/g)].map((f) => f[1]), text: `clusterkv${m[1]}${m[2]}`.trim() });
  }
  return out;
}

describe('commands in the documentation', () => {
  it('name existing commands and options they take', async () => {
    const program = await buildProgram();
    const problems: string[] = [];
    let checked = 0;
    for (const doc of DOCS) {
      for (const code of codeOf(readFileSync(path.join(root, doc), 'utf8'))) {
        for (const use of commandUses(code)) {
          let command: Command = program;
          for (const w of use.words) {
            const sub = command.commands.find((c) => c.name() === w);
            if (!sub) break;
            command = sub;
          }
          if (command === program) {
            if (use.flags.some((f) => f !== '--version' && f !== '--help')) problems.push(`${doc}: \`${use.text}\`: no command '${use.words[0]}'`);
            continue;
          }
          checked++;
          const known = new Set(['--help', ...command.options.map((o) => o.long).filter((l): l is string => !!l && !command.options.find((o) => o.long === l)?.hidden)]);
          for (const flag of use.flags) if (!known.has(flag)) problems.push(`${doc}: \`${use.text}\`: ${command.name()} takes no ${flag}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });
});
