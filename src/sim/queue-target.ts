/**
 * Where a queued sweep's Redis is, without loading BullMQ (which every CLI start would otherwise pay for):
 * the redis:// URL parsed, a reachability check, and the defaults that commands show in their help.
 */
import net from 'node:net';

/** key prefix of the queue (--prefix keeps labs or test runs apart on one Redis) */
export const DEFAULT_PREFIX = 'clusterkv';
/** a worker's unit stays locked this long unrenewed (`clusterkv worker --lock-ms`) */
export const DEFAULT_LOCK_MS = 30_000;

/** Redis cannot be reached (or the URL is not one): one line that says where and why. */
export class QueueUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUnreachable';
  }
}

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** the URL without its password, for messages and manifests */
  display: string;
}

/** redis://[user:password@]host[:port][/db] (rediss:// for TLS). */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueUnreachable(`--queue: '${url}' is not a URL (expected redis://HOST:PORT/DB)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new QueueUnreachable(`--queue: '${url}' is not a redis:// URL (expected redis://HOST:PORT/DB)`);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new QueueUnreachable(`--queue: database '${dbText}' in '${url}' is not a number (expected redis://HOST:PORT/DB)`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const display = `${u.protocol}//${username ? `${username}@` : ''}${u.host || host}/${db}`;
  return { host, port, db, username, password, tls: u.protocol === 'rediss:', display };
}

/**
 * Checks that something answers on Redis's port before BullMQ starts (its client would retry for ever):
 * a plain TCP connection and a PING. Any reply counts (a server that wants a password answers -NOAUTH).
 */
export async function checkRedis(t: RedisTarget, timeoutMs = 5000): Promise<void> {
  if (t.tls) return; // a TLS endpoint answers no plain PING; BullMQ's own errors tell
  const problem = await new Promise<string | undefined>((resolve) => {
    const socket = net.connect({ host: t.host, port: t.port });
    const done = (why?: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer in ${timeoutMs / 1000} s`));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^[+-]/.test(data.toString()) ? undefined : 'not a Redis server'));
  });
  if (problem) throw new QueueUnreachable(`cannot reach Redis at ${t.display} (${problem}): start redis-server there (Debian: apt-get install redis-server) or give --queue the right redis://HOST:PORT/DB`);
}
