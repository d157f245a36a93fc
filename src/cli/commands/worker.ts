/**
 * `clusterkv worker --queue redis://HOST:PORT/DB`: computes the units of queued sweeps (`clusterkv sweep
 * TRACE... --queue URL`) until stopped. One command per machine; --concurrency N runs N units at once, each in
 * its own process (a CPU machine: one per core; a GPU: 1 or 2).
 */
import os from 'node:os';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { DEFAULT_LOCK_MS } from '../../sim/queue-target.js';
import { UserError } from '../errors.js';
import { backendOption } from '../options.js';
import { parseIntFlag } from '../parse.js';
import { count } from '../table.js';

interface WorkerFlags {
  queue: string;
  concurrency: string;
  backend?: string;
  prefix?: string;
  lockMs: string;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('compute queued sweep units (clusterkv sweep ... --queue URL) until stopped: one command per machine')
    .requiredOption('--queue <url>', 'the Redis of the queue: redis://HOST:PORT/DB')
    .option('--concurrency <n>', `units computed at once, each in its own process (a CPU machine: its cores, ${os.availableParallelism()} here)`, '1')
    .addOption(backendOption())
    .option('--prefix <prefix>', 'Redis key prefix of the queue (default clusterkv; the same as the sweep\'s)')
    .option('--lock-ms <ms>', 'a unit stays locked this long unrenewed: a killed worker\'s unit goes to another worker within about twice this', String(DEFAULT_LOCK_MS))
    .addHelpText(
      'after',
      `
Start one worker per machine, then submit a sweep from anywhere:
  clusterkv worker --queue redis://HOST:6379/0 --concurrency $(nproc)
  clusterkv sweep /shared/traces/a.safetensors --queue redis://HOST:6379/0 --out runs/a --methods oracle,clusterkv
Each unit names its trace by path and sha256: every worker must read the trace at that path (a shared disk or
a copy in the same place). Ctrl-C (SIGINT) or SIGTERM finishes the current units and exits; a second one
hands them back to the queue at once. A worker killed outright loses nothing: its unit goes to another worker.
`,
    )
    .action(async (flags: WorkerFlags) => {
      const concurrency = parseIntFlag('--concurrency', flags.concurrency, 1);
      const lockMs = parseIntFlag('--lock-ms', flags.lockMs, 100);
      // the backend is loaded here first, so a backend that cannot load is one line before anything starts
      const backend = await useBackend(flags.backend);
      const stop = new AbortController();
      const release = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (release.signal.aborted) process.exit(130);
        if (stop.signal.aborted) {
          process.stderr.write(`clusterkv worker: ${signal} again: handing the current units back to the queue\n`);
          release.abort();
        } else {
          process.stderr.write(`clusterkv worker: ${signal}: finishing the current units, then stopping (again: hand them back now)\n`);
          stop.abort();
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        // BullMQ loads only here, not on every CLI start
        const { runSweepWorker } = await import('../../sim/sweep-worker.js');
        const { finished, failed } = await runSweepWorker({
          url: flags.queue,
          prefix: flags.prefix,
          concurrency,
          backend,
          lockMs,
          stop: stop.signal,
          release: release.signal,
          log: (line) => process.stderr.write(`clusterkv worker: ${line}\n`),
        });
        process.stderr.write(`clusterkv worker: stopped (${count(finished, 'unit')} computed, ${failed} failed)\n`);
      } catch (err) {
        if (err instanceof Error && err.name === 'QueueUnreachable') throw new UserError(err.message);
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
