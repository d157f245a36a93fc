/**
 * A local worker process (sweep-local-pool.ts forks it with tsx's loader): loads the backend it is told, then
 * computes the units it is sent one at a time, sending a message per decode step and the result. It exits when
 * its parent closes the channel or goes away.
 */
import { useBackend } from '../gpu/backend.js';
import { VERSION } from '../version.js';
import type { FromPoolChild, ToPoolChild } from './sweep-local-pool.js';
import { computeUnit, UnitContext, UnitRefused } from './sweep-unit.js';

const send = (msg: FromPoolChild) => process.send?.(msg);
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
      send({ type: 'fatal', message: (err as Error).message });
      process.exit(1);
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
