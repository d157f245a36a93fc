/** Every subcommand module of `clusterkv`. Add one line per command file. */
import type { Command } from 'commander';
import * as quickstart from './quickstart.js';
import * as sweep from './sweep.js';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [quickstart, sweep];
