/**
 * Redis for the queue tests: CLUSTERKV_TEST_REDIS, else redis://127.0.0.1:6379/0 (.ci/run installs Debian's
 * redis-server and starts it there). Each test takes its own key prefix and removes its keys afterwards, so
 * tests never see each other's jobs and a developer's own queues are left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { checkRedis, connectionOptions, parseRedisUrl, QUEUE_NAME } from '../../src/sim/sweep-queue.js';
import { recordSkip, testAll } from './requirements.js';

export const REDIS_URL = process.env.CLUSTERKV_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';

/**
 * Whether a Redis answers at REDIS_URL; if not, the file's tests skip and npm test's closing lines say why
 * (CLUSTERKV_TEST_ALL=1: they run, and fail without one).
 */
export async function redisReachable(suite: string): Promise<boolean> {
  if (testAll()) return true;
  try {
    await checkRedis(parseRedisUrl(REDIS_URL), 2000);
    return true;
  } catch {
    console.warn(`${suite}: skipped, no Redis at ${REDIS_URL} (Debian: apt-get install redis-server; or set CLUSTERKV_TEST_REDIS)`);
    recordSkip(`Redis at ${REDIS_URL}`, 'apt-get install -y --no-install-recommends redis-server (and start it), or set CLUSTERKV_TEST_REDIS=redis://HOST:PORT/DB');
    return false;
  }
}

let counter = 0;
/** A key prefix of its own for one test. */
export function testPrefix(): string {
  return `ckvtest-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Deletes every key of the test's queue. */
export async function dropQueue(prefix: string): Promise<void> {
  const queue = new Queue(QUEUE_NAME, { connection: connectionOptions(parseRedisUrl(REDIS_URL)), prefix });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
}

const root = path.join(__dirname, '..', '..');

/** `clusterkv worker` as a user starts it; resolves once it listens for units. */
export function startWorker(prefix: string, extra: string[] = []): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'worker', '--queue', REDIS_URL, '--prefix', prefix, '--backend', 'wasm', ...extra], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (text.includes('waiting for sweep units')) {
        clearInterval(timer);
        resolve({ child, log: () => text });
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`worker exited (${code}) before it was ready:\n${text}`));
    });
  });
}

/** Stops a worker with a signal and waits for it to exit. */
export function stopWorker(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
