/**
 * A local worker process (sweep-local-pool.ts forks it: the build, or this source through tsx's loader):
 * loads the backend it is told, then computes the units it is sent one at a time, sending a message per
 * decode step and the result. It exits when its parent closes the channel or goes away.
 */
import { useBackend } from '../gpu/backend.js';
import { VERSION } from '../version.js';
import type { FromPoolChild, ToPoolChild } from './sweep-local-pool.js';
import { computeUnit, UnitContext, UnitRefused } from './sweep-unit.js';

// a parent that died (a killed worker) closes the channel: stop quietly rather than crash on EPIPE
const send = (msg: FromPoolChild) => {
  if (!process.connected) process.exit(0);
  process.send?.(msg, undefined, {}, (err) => err && process.exit(0));
};
let ctx: UnitContext | undefined;
let queue: Promise<void> = Promise.resolve();

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: ToPoolChild) => {
  // one message at a time, in order
  queue = queue.then(() => handle(msg));
});

async function handle(msg: ToPoolChild): Promise<void> {
  if (msg.type === 'init') {
    try {
      const backend = await useBackend(msg.backend);
      ctx = new UnitContext({ backend, verify: msg.verify, version: VERSION });
      send({ type: 'ready', backend });
    } catch (err) {
      // exit once the message is out (the parent reports it as the pool's start error)
      process.send?.({ type: 'fatal', message: (err as Error).message } satisfies FromPoolChild, undefined, {}, () => process.exit(1));
    }
    return;
  }
  if (!ctx) return;
  try {
    const result = await computeUnit(msg.unit, ctx, () => send({ type: 'step', id: msg.id }));
    send({ type: 'result', id: msg.id, result });
  } catch (err) {
    send({ type: 'error', id: msg.id, message: (err as Error).message, refused: err instanceof UnitRefused });
  }
}
