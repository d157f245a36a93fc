/**
 * Sweeps through BullMQ on Redis, the submitting side (`clusterkv sweep TRACE... --queue URL`); the workers
 * are sweep-worker.ts. Every unfinished unit (a family of cells on one layer of one trace, results-schema.ts)
 * becomes a job whose id is deterministic: the sweep's name, the layer and a hash of everything the unit's
 * rows depend on (trace sha256, cells and parameters, heads, steps, clusterkv-lab version). So a re-run or a
 * second submitter of the same sweep adds no job twice, and jobs of another sweep, another grid or another
 * version never stand in for this one's. The submitter waits for every job, showing progress across workers;
 * a job that fails is retried `attempts` times, then reported with its error. A unit a worker computed stays
 * in Redis as the job's return value (7 days), so a sweep interrupted while waiting collects it on a re-run.
 *
 * Redis: the queue `sweep` under key prefix `clusterkv` (--prefix keeps labs or test runs apart on one Redis).
 */
import { createHash } from 'node:crypto';
import { Job, Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { checkRedis, DEFAULT_PREFIX, parseRedisUrl, type RedisTarget } from './queue-target.js';
import { unitResultSchema, type SweepUnit, type UnitResult } from './results-schema.js';

export { checkRedis, DEFAULT_PREFIX, parseRedisUrl, QueueUnreachable, type RedisTarget } from './queue-target.js';

export const QUEUE_NAME = 'sweep';
export const DEFAULT_ATTEMPTS = 3;
/** finished jobs (and their rows) stay this long */
const KEEP_SECONDS = 7 * 24 * 3600;

export function connectionOptions(t: RedisTarget): ConnectionOptions {
  return { host: t.host, port: t.port, db: t.db, username: t.username, password: t.password, ...(t.tls ? { tls: {} } : {}) };
}

/** A sweep's name as it may appear in a job id (no ':', which BullMQ reserves). */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'sweep';
}

/** The job id of a unit: name, layer and the hash of what its rows depend on (never all digits, no ':'). */
export function unitJobId(name: string, unit: SweepUnit): string {
  const identity = JSON.stringify([unit.trace.sha256, unit.layer, unit.cells.map((c) => c.id), unit.heads, unit.steps, unit.version]);
  return `${safeName(name)}.layer-${unit.layer}.${createHash('sha256').update(identity).digest('hex').slice(0, 20)}`;
}

export interface QueueRunOptions {
  url: string;
  /** the sweep's name: the first part of every job id */
  name: string;
  prefix?: string;
  /** attempts per job before it is reported as failed (BullMQ retries) */
  attempts?: number;
  signal?: AbortSignal;
  /** a line for the person waiting (no worker connected yet, ...) */
  notice?: (line: string) => void;
}

export interface QueueRunCallbacks {
  /** unit i has done `steps` of its reported decode steps (across attempts, the latest) */
  onSteps(i: number, steps: number): void;
  onResult(i: number, result: UnitResult): void;
  onFailure(i: number, error: string, attempts: number | undefined): void;
}

/** Enqueues the units and waits for every one; resolves 'interrupted' when the signal aborts the wait. */
export async function runUnitsOnQueue(units: SweepUnit[], opts: QueueRunOptions, cb: QueueRunCallbacks): Promise<'done' | 'interrupted'> {
  const target = parseRedisUrl(opts.url);
  await checkRedis(target);
  const connection = connectionOptions(target);
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const queue = new Queue(QUEUE_NAME, { connection, prefix });
  const events = new QueueEvents(QUEUE_NAME, { connection, prefix });
  // one completion listener per unit on the events, one 'closing' listener per unit on the queue
  events.setMaxListeners(0);
  queue.setMaxListeners(0);
  let aborted = false;
  try {
    await events.waitUntilReady();
    const ids = units.map((u) => unitJobId(opts.name, u));
    const index = new Map(ids.map((id, i) => [id, i]));
    events.on('progress', ({ jobId, data }) => {
      const i = index.get(jobId);
      if (i !== undefined && typeof data === 'number') cb.onSteps(i, data);
    });
    // a job that failed for good in an earlier run starts its attempts afresh in this one
    for (const id of ids) {
      const old = await Job.fromId(queue, id);
      if (old && (await old.isFailed())) await old.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    }
    const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
    const jobOpts = { attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: { age: KEEP_SECONDS }, removeOnFail: { age: KEEP_SECONDS } };
    await queue.addBulk(units.map((data, i) => ({ name: `layer ${data.layer}`, data, opts: { ...jobOpts, jobId: ids[i] } })));
    try {
      if ((await queue.getWorkersCount()) === 0) opts.notice?.(`queued ${units.length} units on ${target.display}; no worker is connected yet: start one with  clusterkv worker --queue ${target.display}${prefix !== DEFAULT_PREFIX ? ` --prefix ${prefix}` : ''}`);
    } catch {
      // CLIENT LIST may be refused (managed Redis): only the notice is lost
    }
    const waits = ids.map(async (id, i) => {
      const job = await Job.fromId(queue, id);
      if (!job) throw new Error(`job ${id} vanished from ${target.display} after it was added`);
      try {
        const value = await job.waitUntilFinished(events);
        if (aborted) return;
        const parsed = unitResultSchema.safeParse(value);
        if (!parsed.success) cb.onFailure(i, `job ${id} returned no sweep rows (a worker of another clusterkv-lab version?)`, undefined);
        else cb.onResult(i, parsed.data);
      } catch (err) {
        if (aborted) return;
        const failed = await Job.fromId(queue, id);
        cb.onFailure(i, (err as Error).message, failed?.attemptsMade);
      }
    });
    const stop = new Promise<'interrupted'>((resolve) => {
      if (opts.signal?.aborted) resolve('interrupted');
      opts.signal?.addEventListener('abort', () => resolve('interrupted'), { once: true });
    });
    const outcome = await Promise.race([Promise.all(waits).then(() => 'done' as const), stop]);
    aborted = outcome === 'interrupted';
    return outcome;
  } finally {
    aborted = true;
    await events.close();
    await queue.close();
  }
}
