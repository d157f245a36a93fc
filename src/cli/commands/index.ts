/** Every subcommand module of `clusterkv`. Add one line per command file. */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [];
