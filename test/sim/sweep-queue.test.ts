/**
 * Sweeps through BullMQ on a real Redis with real `clusterkv worker` processes (issue 13): the queued folder
 * equals the local one byte for byte, a killed worker loses and duplicates nothing, a second submit computes
 * nothing, a failing unit is retried a bounded number of times and reported, and jobs are namespaced by sweep.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { readSweepFolder } from '../../src/sim/results-folder.js';
import { connectionOptions, parseRedisUrl, QUEUE_NAME, runUnitsOnQueue, unitJobId } from '../../src/sim/sweep-queue.js';
import { VERSION } from '../../src/version.js';
import { runSweep, SweepFailed, type SweepSpec } from '../../src/sim/sweep.js';
import { folderFiles, spoilLayer } from '../helpers/sweep-files.js';
import { dropQueue, REDIS_URL, redisReachable, startWorker, stopWorker, testPrefix } from '../helpers/redis.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const reachable = await redisReachable('sweep-queue tests');
const spec: SweepSpec = { methods: ['full', 'oracle', 'clusterkv'], budgets: [64, 128], clusters: [16, 32], seed: 3, grid: { denseLayers: [0] } };

describe.runIf(reachable)('sweep through BullMQ with clusterkv workers', () => {
  let trace: string;
  let local: string;
  const prefixes: string[] = [];

  beforeAll(async () => {
    await useBackend('wasm');
    trace = await smallTrace();
    local = tempDir();
    await runSweep(trace, spec, local, { backend: 'wasm' });
  });

  afterAll(async () => {
    for (const p of prefixes) await dropQueue(p);
  });

  it('two workers give the local folder byte for byte; a second submit, even into a new folder, computes nothing', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const workers = await Promise.all([startWorker(prefix), startWorker(prefix)]);
    const queue = { url: REDIS_URL, name: 'two-workers', prefix };
    try {
      const dir = tempDir();
      const queued = await runSweep(trace, spec, dir, { backend: 'wasm', queue });
      expect(queued.computed).toBe(7 * 2);
      expect(folderFiles(dir)).toEqual(folderFiles(local));
      const manifest = readSweepFolder(dir).manifest!;
      expect(manifest.status).toBe('complete');
      expect(manifest.backend).toBe('wasm');
      expect(manifest.execution).toMatchObject({ mode: 'queue', name: 'two-workers', prefix });
      // both workers took units (each runs one process; they report host:pid of it)
      expect(manifest.execution!.workers!.length).toBe(2);

      // the same command again: every cell is on disk, nothing is queued
      const again = await runSweep(trace, spec, dir, { backend: 'wasm', queue });
      expect(again.computed).toBe(0);
      expect(again.skipped).toBe(14);
      expect(readFileSync(path.join(dir, 'results.csv'), 'utf8')).toBe(folderFiles(local)['results.csv']);
    } finally {
      await Promise.all(workers.map((w) => stopWorker(w.child)));
    }
    // no worker is running now: a second submitter of the same sweep (same name) gets every unit's rows from
    // the finished jobs in Redis, into a folder of its own
    const other = tempDir();
    const second = await runSweep(trace, spec, other, { backend: 'wasm', queue });
    expect(second.computed).toBe(14);
    expect(folderFiles(other)).toEqual(folderFiles(local));
  });

  it('a worker killed in the middle of a unit loses and duplicates nothing: its unit goes to another worker', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const lock = ['--lock-ms', '2000'];
    const first = await startWorker(prefix, lock);
    let second: Awaited<ReturnType<typeof startWorker>> | undefined;
    let killedAt = -1;
    const dir = tempDir();
    const queue = { url: REDIS_URL, name: 'kill-one', prefix };
    try {
      const run = runSweep(trace, spec, dir, {
        backend: 'wasm',
        queue,
        onProgress: (done) => {
          // the first worker is the only one: kill it while it is inside a unit, then start another
          if (killedAt < 0 && done > 0) {
            killedAt = done;
            first.child.kill('SIGKILL');
            void startWorker(prefix, lock).then((w) => (second = w));
          }
        },
      });
      const result = await run;
      expect(killedAt).toBeGreaterThan(0);
      expect(result.computed).toBe(14);
      expect(folderFiles(dir)).toEqual(folderFiles(local));
      expect(result.table.numRows()).toBe(7 * 2 * 4 * 6);
      // the unit the killed worker held was found stalled and computed again elsewhere
      const q = new Queue(QUEUE_NAME, { connection: connectionOptions(parseRedisUrl(REDIS_URL)), prefix });
      try {
        const jobs = (await q.getJobs(['completed'])) as Job[];
        expect(jobs).toHaveLength(8);
        expect(jobs.filter((j) => j.stalledCounter > 0 || j.attemptsStarted > 1).length).toBeGreaterThan(0);
        const survivors = new Set(jobs.map((j) => (j.returnvalue as { worker: string }).worker));
        expect(survivors.size).toBeGreaterThan(0);
      } finally {
        await q.close();
      }
    } finally {
      await stopWorker(first.child, 'SIGKILL');
      if (second) await stopWorker(second.child);
    }
  });

  it('SIGTERM finishes the current unit before the worker exits; a second SIGTERM hands it back to the queue', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    // two units of a second or so each: one to finish on the first signal, one to hand back on the second
    const longer = await smallTrace({ context: 2048 });
    const heavy: SweepSpec = { methods: ['clusterkv'], budgets: [64, 128], clusters: [48], seed: 3, grid: { denseLayers: [0] } };
    const reference = tempDir();
    await runSweep(longer, heavy, reference, { backend: 'wasm' });
    const dir = tempDir();
    let phase: 'finish' | 'release' | 'rest' | 'waiting' = 'finish';
    const started: Awaited<ReturnType<typeof startWorker>>[] = [];
    const exits: (number | null)[] = [];
    const done: Promise<void>[] = [];
    const after = (child: Awaited<ReturnType<typeof startWorker>>['child'], to: typeof phase) =>
      done.push(
        (async () => {
          exits.push(await new Promise<number | null>((resolve) => child.once('exit', resolve)));
          started.push(await startWorker(prefix));
          phase = to;
        })(),
      );
    started.push(await startWorker(prefix));
    try {
      const result = await runSweep(longer, heavy, dir, {
        backend: 'wasm',
        queue: { url: REDIS_URL, name: 'graceful', prefix },
        onProgress: () => {
          const current = started[started.length - 1].child;
          if (phase === 'finish') {
            current.kill('SIGTERM');
            after(current, 'release');
          } else if (phase === 'release') {
            current.kill('SIGTERM');
            setTimeout(() => current.kill('SIGTERM'), 30);
            after(current, 'rest');
          } else return;
          phase = 'waiting';
        },
      });
      await Promise.all(done);
      expect(exits).toEqual([0, 0]);
      expect(started[0].log()).toMatch(/stopped \(1 unit computed, 0 failed\)/);
      expect(started[1].log()).toMatch(/handing the current units back[\s\S]*stopped \(0 units computed, 0 failed\)/);
      expect(result.computed).toBe(2 * 2);
      expect(folderFiles(dir)).toEqual(folderFiles(reference));
      // no attempt was spent on the stops: each job completed on its first counted attempt
      const q = new Queue(QUEUE_NAME, { connection: connectionOptions(parseRedisUrl(REDIS_URL)), prefix });
      try {
        const jobs = (await q.getJobs(['completed'])) as Job[];
        expect(jobs.map((j) => j.attemptsMade)).toEqual([1, 1]);
      } finally {
        await q.close();
      }
    } finally {
      for (const w of started) await stopWorker(w.child);
    }
  });

  it('retries a failing unit a bounded number of times, then reports it: non-zero exit, finished cells kept', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const bad = await smallTrace();
    await spoilLayer(bad, 1);
    const worker = await startWorker(prefix);
    try {
      const dir = tempDir();
      const run = spawnSync(
        process.execPath,
        [path.join(root, 'bin', 'clusterkv.js'), 'sweep', bad, '--out', dir, '--queue', REDIS_URL, '--prefix', prefix, '--attempts', '2', '--methods', 'oracle', '--budgets', '64', '--param', 'denseLayers=0', '--quiet'],
        { cwd: root, encoding: 'utf8' },
      );
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/clusterkv: .*1 cell-layer\(s\) of layer\(s\) 1 failed after 2 attempt\(s\): .*layers\.1\.k holds a non-finite value/);
      const folder = readSweepFolder(dir, { allowUnfinished: true });
      expect(folder.manifest!.status).toBe('failed');
      expect(folder.manifest!.failures).toEqual([expect.objectContaining({ layer: 1, attempts: 2 })]);
      // layer 0 is finished and kept
      expect([...new Set(folder.table.array('layer') as number[])]).toEqual([0]);
      expect(() => readSweepFolder(dir)).toThrow(/sweep not finished \(failed: 1 of 2 cell-layers done/);
      // the job failed for good after exactly its attempts
      const q = new Queue(QUEUE_NAME, { connection: connectionOptions(parseRedisUrl(REDIS_URL)), prefix });
      try {
        const failed = (await q.getJobs(['failed'])) as Job[];
        expect(failed.map((j) => j.attemptsMade)).toEqual([2]);
      } finally {
        await q.close();
      }
      // a worker checks the trace a unit names: a path it cannot read, or a file with another sha256, is a
      // clear error (attempts 1 here)
      const unit = { trace: { path: bad, sha256: '0'.repeat(64) }, layer: 0, cells: [{ id: 'oracle-x', method: 'oracle', params: { budget: 64, denseLayers: 0 } }], heads: [0], steps: [0], version: VERSION };
      const missing = { ...unit, trace: { path: path.join(tempDir(), 'gone.safetensors'), sha256: '1'.repeat(64) } };
      const errors: string[] = [];
      await runUnitsOnQueue([unit, missing], { url: REDIS_URL, name: 'bad-trace', prefix, attempts: 1 }, { onSteps() {}, onResult() {}, onFailure: (i, error) => (errors[i] = error) });
      expect(errors[0]).toMatch(/^worker .*:\d+: .* has sha256 [0-9a-f]{12}\.\.\., the sweep was given a file with 000000000000\.\.\.: every worker must read the same trace$/);
      expect(errors[1]).toMatch(/gone\.safetensors: no such file \(every worker must read the trace at the path the sweep was given\)/);
    } finally {
      await stopWorker(worker.child);
    }
  });

  it('names jobs by sweep, layer and content: another grid or version never shares an id', () => {
    const unit = { trace: { path: '/t', sha256: 'a'.repeat(64) }, layer: 2, cells: [{ id: 'oracle-1', method: 'oracle', params: { budget: 64 } }], heads: [0], steps: [0], version: '0.1.0' };
    const id = unitJobId('my sweep', unit);
    expect(id).toMatch(/^my_sweep\.layer-2\.[0-9a-f]{20}$/);
    expect(unitJobId('my sweep', { ...unit })).toBe(id);
    expect(unitJobId('other', unit)).not.toBe(id);
    expect(unitJobId('my sweep', { ...unit, steps: [0, 1] })).not.toBe(id);
    expect(unitJobId('my sweep', { ...unit, version: '0.2.0' })).not.toBe(id);
    expect(unitJobId('my sweep', { ...unit, trace: { ...unit.trace, sha256: 'b'.repeat(64) } })).not.toBe(id);
  });
});

describe('queue errors', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8' });

  it('Redis unreachable: one line, exit 1, for the sweep and the worker', async () => {
    const trace = await smallTrace();
    for (const run of [
      cli('sweep', trace, '--out', tempDir(), '--queue', 'redis://127.0.0.1:1/0', '--methods', 'oracle', '--budgets', '64', '--param', 'denseLayers=0'),
      cli('worker', '--queue', 'redis://127.0.0.1:1/0', '--backend', 'cpu'),
    ]) {
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split('\n').filter((l) => !/vulkan|XDG_RUNTIME|Initialize|^\s*-|^\s*at /i.test(l));
      expect(lines).toEqual([expect.stringMatching(/^clusterkv: cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0 \(ECONNREFUSED\): start redis-server there \(Debian: apt-get install redis-server\)/)]);
    }
  });

  it('bad --queue URLs and flags that need --queue are one-line errors', async () => {
    const trace = await smallTrace();
    const notRedis = cli('sweep', trace, '--out', tempDir(), '--queue', 'http://x', '--methods', 'oracle', '--budgets', '64', '--param', 'denseLayers=0');
    expect(notRedis.status).toBe(1);
    expect(notRedis.stderr.trim()).toMatch(/^clusterkv: --queue: 'http:\/\/x' is not a redis:\/\/ URL/);
    const named = cli('sweep', trace, '--out', tempDir(), '--name', 'x', '--methods', 'oracle', '--budgets', '64', '--param', 'denseLayers=0');
    expect(named.status).toBe(1);
    expect(named.stderr.trim()).toMatch(/^clusterkv: --name and --prefix name a queued sweep/);
    expect(existsSync(trace)).toBe(true);
  });
});
