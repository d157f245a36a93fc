/**
 * A sweep worker (`clusterkv worker --queue URL`): takes units from the BullMQ queue (sweep-queue.ts), computes
 * each in a local worker process (sweep-local-pool.ts; `concurrency` of them, one unit each) with the same code
 * as a local sweep, and returns the rows as the job's return value. Computing in child processes keeps this
 * process's event loop free, so BullMQ renews the job's lock on time however long a K-means takes.
 *
 * Trace: the unit names a path and its sha256; the worker reads that path and checks the hash (once per file
 * and modification), so every worker must see the trace at the same path (a shared disk, or a copy there).
 * A killed worker's unit is found by BullMQ's stalled-job check (every `lockMs`) and given to another worker;
 * its rows reach the folder once, whoever finishes it. Stop: the first signal finishes the current units and
 * exits; a second releases them to the queue at once (moved back to waiting, no attempt spent).
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { sweepUnitSchema, type UnitResult } from './results-schema.js';
import { LocalPool, PoolUnitError } from './sweep-local-pool.js';
import { checkRedis, DEFAULT_LOCK_MS, DEFAULT_PREFIX, parseRedisUrl } from './queue-target.js';
import { connectionOptions, QUEUE_NAME } from './sweep-queue.js';

export interface SweepWorkerOptions {
  url: string;
  prefix?: string;
  /** units computed at once, each in its own process */
  concurrency: number;
  /** tfjs backend of the worker processes */
  backend: string;
  /** how long a unit's lock lasts unrenewed: a killed worker's unit goes to another within about twice this */
  lockMs?: number;
  /** first abort: finish the current units, then stop */
  stop: AbortSignal;
  /** second abort: release the current units to the queue now */
  release?: AbortSignal;
  log?: (line: string) => void;
  /** called once the worker listens for jobs */
  onReady?: () => void;
}

/** Runs until `stop` aborts; returns the number of units this worker finished. */
export async function runSweepWorker(opts: SweepWorkerOptions): Promise<{ finished: number; failed: number }> {
  const target = parseRedisUrl(opts.url);
  await checkRedis(target);
  const log = opts.log ?? (() => {});
  const pool = await LocalPool.start(opts.concurrency, { backend: opts.backend, verify: true });
  const active = new Map<string, { job: Job; token?: string; release: (err: Error) => void }>();
  let finished = 0;
  let failed = 0;
  const lockMs = opts.lockMs ?? DEFAULT_LOCK_MS;
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string): Promise<UnitResult> => {
      const parsed = sweepUnitSchema.safeParse(job.data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new UnrecoverableError(`job ${job.id} is not a sweep unit this version reads (field '${issue.path.join('.')}': ${issue.message})`);
      }
      const unit = parsed.data;
      let steps = 0;
      const started = Date.now();
      const work = pool.run(unit, () => {
        steps++;
        job.updateProgress(steps).catch(() => {}); // progress is a courtesy; a lost update loses nothing
      });
      // a second signal rejects the unit with WaitingError after moving it back to waiting
      const released = new Promise<never>((_, reject) => active.set(job.id!, { job, token, release: reject }));
      try {
        const result = await Promise.race([work, released]);
        finished++;
        log(`${job.id}: layer ${unit.layer}, ${unit.cells.length} cell(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return result;
      } catch (err) {
        if (err instanceof WaitingError) throw err;
        failed++;
        log(`${job.id}: failed (attempt ${job.attemptsMade + 1}): ${(err as Error).message}`);
        if (err instanceof PoolUnitError && err.refused) throw new UnrecoverableError(err.message);
        throw err;
      } finally {
        active.delete(job.id!);
      }
    },
    {
      connection: connectionOptions(target),
      prefix: opts.prefix ?? DEFAULT_PREFIX,
      concurrency: opts.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // a unit whose worker died more than twice is reported as failed rather than handed out again
      maxStalledCount: 2,
      autorun: false,
    },
  );
  worker.on('error', (err) => log(`queue error: ${err.message}`));
  // a second signal: the current units go back to waiting (no attempt spent) and their processors end
  const releaseAll = () => {
    for (const { job, token, release } of active.values()) {
      job
        .moveToWait(token)
        .catch(() => {})
        .finally(() => release(new WaitingError()));
    }
  };
  if (opts.release?.aborted) releaseAll();
  opts.release?.addEventListener('abort', releaseAll, { once: true });
  const running = worker.run();
  await worker.waitUntilReady();
  opts.onReady?.();
  log(`waiting for sweep units on ${target.display} (${opts.concurrency} at once, backend ${opts.backend})`);
  await new Promise<void>((resolve) => {
    if (opts.stop.aborted) resolve();
    opts.stop.addEventListener('abort', () => resolve(), { once: true });
  });
  if (active.size > 0) log(`finishing ${active.size} unit(s) before stopping (signal again to hand them back to the queue now)`);
  await worker.close();
  await running;
  await pool.close();
  return { finished, failed };
}
