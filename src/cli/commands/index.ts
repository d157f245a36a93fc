/**
 * Every subcommand of `clusterkv`, loaded on demand: a run imports only the module of the command it runs
 * (tfjs, models, plotting and browsers load only where needed), `--help` imports them all.
 * Add one line per command file.
 */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const commandLoaders: Record<string, () => Promise<CommandModule>> = {
  quickstart: () => import('./quickstart.js'),
  synth: () => import('./synth.js'),
  info: () => import('./info.js'),
  sweep: () => import('./sweep.js'),
  methods: () => import('./methods.js'),
  export: () => import('./export.js'),
  generate: () => import('./generate.js'),
  capture: () => import('./capture.js'),
  doctor: () => import('./doctor.js'),
  parity: () => import('./parity.js'),
  bench: () => import('./bench.js'),
  cachesim: () => import('./cachesim.js'),
  plot: () => import('./plot.js'),
  e2e: () => import('./e2e.js'),
  worker: () => import('./worker.js'),
  eval: () => import('./eval.js'),
};
