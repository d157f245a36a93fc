/** The one `--param` parser and the one `--backend` option definition (src/cli/parse.ts, src/cli/options.ts). */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES } from '../../src/gpu/backend.js';
import { UserError } from '../../src/cli/errors.js';
import { backendOption } from '../../src/cli/options.js';
import { parseGridFlags, parseParamFlags, parseParamValue } from '../../src/cli/parse.js';
import { buildProgram } from '../../src/cli/program.js';

describe('--param', () => {
  it('reads numbers, booleans and strings', () => {
    expect([parseParamValue('10'), parseParamValue('0.5'), parseParamValue('true'), parseParamValue('false'), parseParamValue('bound'), parseParamValue(' ')]).toEqual([10, 0.5, true, false, 'bound', ' ']);
  });

  it('gives every name its values (sweep, eval), a later --param of a name replacing an earlier one', () => {
    expect(parseGridFlags(['iters=10,20', 'scoring=centroid,bound', 'flag=true', 'iters=5', 'expr=a=b'])).toEqual({ iters: [5], scoring: ['centroid', 'bound'], flag: [true], expr: ['a=b'] });
    expect(parseGridFlags([])).toEqual({});
  });

  it('gives one value per name where a command takes one (generate, cachesim), naming the command', () => {
    expect(parseParamFlags(['iters=10', 'scoring=bound'], 'generate')).toEqual({ iters: 10, scoring: 'bound' });
    expect(() => parseParamFlags(['iters=10,20'], 'cachesim')).toThrow(new UserError('--param iters: cachesim takes one value per parameter, got 2'));
  });

  it('refuses an item without a name or a value, in one line naming the flag', () => {
    for (const bad of ['iters', '=10', 'iters=', '']) {
      expect(() => parseGridFlags([bad])).toThrow(new UserError(`--param takes name=value[,value...], got '${bad}'`));
      expect(() => parseParamFlags([bad], 'generate')).toThrow(UserError);
    }
  });
});

describe('--backend', () => {
  it('is one definition: every command that takes it says the same thing (e2e: its one backend as the default)', async () => {
    const program = await buildProgram();
    const withBackend = (c: Command) => c.options.find((o) => o.long === '--backend');
    const commands = program.commands.flatMap((c) => [c, ...c.commands]).filter((c) => withBackend(c));
    const help = `tfjs backend: ${BACKEND_NAMES.join(', ')} (default: env CLUSTERKV_BACKEND, else first that loads)`;
    expect(commands.map((c) => c.name()).sort()).toEqual(['bench', 'cachesim', 'capture', 'e2e', 'generate', 'parity', 'passkey', 'quickstart', 'sweep', 'worker']);
    for (const c of commands) {
      const option = withBackend(c)!;
      if (c.name() === 'e2e') expect([option.description, option.defaultValue]).toEqual([`tfjs backend: ${BACKEND_NAMES.join(', ')}; this command runs on webgpu only`, 'webgpu']);
      else expect([option.description, option.defaultValue], c.name()).toEqual([help, undefined]);
      expect(option.flags).toBe('--backend <name>');
    }
    expect(backendOption().description).toBe(help);
  });
});
