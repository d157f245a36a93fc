/** Every subcommand module of `clusterkv`. Add one line per command file. */
import type { Command } from 'commander';
import * as quickstart from './quickstart.js';
import * as sweep from './sweep.js';
import * as synth from './synth.js';
import * as info from './info.js';
import * as exportCommand from './export.js';

import * as generate from './generate.js';
import * as capture from './capture.js';
import * as doctor from './doctor.js';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [quickstart, sweep, synth, info, exportCommand, generate, capture, doctor];
