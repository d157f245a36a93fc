/**
 * Each batched method's declared GPU bytes (SelectionBytes, src/sim/batched-selector.ts: what the engine's
 * footprint adds up before it allocates) against what its selector really holds on the software adapter,
 * from the prompt through closing decode windows up to the capacity:
 *   resident   tensors in use (tfjs's pool, bytes in use) plus the raw buffers it made (scratch included)
 *              once the last step ran: the declared layer + scratch, within 25% and a few KB of rounding
 *   peak       the pool's growth (trimmed before the selector starts, after its prefill and after each step
 *              that met a new layout of windows, as the engine trims) plus the raw buffers, sampled after
 *              the prefill and every step: at most the declared layer + scratch + transient, and more than
 *              a third of it
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUFFER_USAGE, bufferPoolBytes, gpuIdle, trimBufferPool, webgpuBackend } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { BatchedHarness, batchedParityCases, parityInputs, rowsOf, type BatchedParityCase } from '../../../src/sim/batched-parity.js';
import { selectionTotal } from '../../../src/sim/batched-selector.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const skip = await softwareWebgpu();

/** Labelled storage buffers alive (ours: storageBuffer labels every one; tfjs's pool labels none). */
let rawLive = 0;
let restore: (() => void) | undefined;

beforeAll(() => {
  if (skip) return;
  const device = webgpuBackend().device;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    const b = create(desc);
    if (desc.label && desc.usage & BUFFER_USAGE.STORAGE) {
      rawLive += b.size;
      const destroy = b.destroy.bind(b);
      let gone = false;
      b.destroy = (): undefined => {
        if (!gone) rawLive -= b.size;
        gone = true;
        destroy();
        return undefined;
      };
    }
    return b;
  };
  restore = () => {
    device.createBuffer = create;
  };
});
afterAll(() => restore?.());

/**
 * The parity cases of every batched method at a shape with room (d 16, 60 prompt positions, 26 steps), and
 * those whose op chains hold transient tensors at a larger one (d 64, 400 positions), where their sizes, not
 * the pool's small buffers, make the peak.
 */
const { cases } = batchedParityCases();
const CASES: BatchedParityCase[] = [
  ...cases.map((c) => ({ ...c, headDim: 16, prompt: 60, steps: 26 })),
  ...cases.filter((c) => ['clusterkv', 'quest', 'infllm', 'infinigen'].includes(c.method)).map((c) => ({ ...c, headDim: 64, prompt: 400, steps: 14 })),
];

async function measure(c: BatchedParityCase): Promise<{ declared: ReturnType<typeof declaredOf>; resident: number; peak: number }> {
  const method = createMethod(c.method, c.params);
  const form = method.engine;
  if (form?.kind !== 'batched') throw new Error(`${c.method} has no batched form`);
  const { batch: B, heads: H, kvHeads: G, headDim: d, prompt: P, steps } = c;
  const { T, keys, queries, promptQueries } = parityInputs(c);
  const { budget, sinks, window } = form.budget;
  const harness = new BatchedHarness({ layer: 3, batch: B, heads: H, kvHeads: G, headDim: d, capacity: T }, budget, sinks + budget + window + 1);
  const declared = declaredOf(form.bytes({ ...harness.layer, prompt: P }));
  harness.writeKeys(keys, 0, P);
  await gpuIdle();
  trimBufferPool();
  const base = { raw: rawLive, pool: bufferPoolBytes() };
  let peak = 0;
  const sample = async () => {
    await gpuIdle();
    peak = Math.max(peak, bufferPoolBytes().allocated - base.pool.allocated + rawLive - base.raw);
  };
  const selector = form.forLayer(harness.layer);
  try {
    if (form.promptQueries) for (let b = 0; b < B; b++) selector.promptQueries!(b, 0, promptQueries[b]);
    await selector.prefill(P);
    await sample();
    trimBufferPool();
    let trimmed = -1;
    for (let t = 0; t < steps; t++) {
      harness.writeKeys(keys, P + t, 1);
      const q = new Float32Array(B * H * d);
      for (let b = 0; b < B; b++) q.set(queries[b][t], b * H * d);
      harness.writeQueries(q);
      const plan = selector.step(P + t, budget);
      await harness.lists(plan);
      await sample();
      if (plan.layout.closedWindows !== trimmed) {
        trimmed = plan.layout.closedWindows;
        trimBufferPool();
      }
    }
    await gpuIdle();
    const resident = bufferPoolBytes().used - base.pool.used + rawLive - base.raw;
    return { declared, resident, peak };
  } finally {
    selector.dispose();
    harness.destroy();
  }
}

function declaredOf(b: { layer: number; scratch: Readonly<Record<string, number>>; transient: number }) {
  const held = selectionTotal({ ...b, transient: 0 }, 1);
  return { held, most: selectionTotal(b, 1) };
}

describe.skipIf(skip)('selection bytes', () => {
  it.each(CASES.map((c) => [`${c.method} ${JSON.stringify(c.params)}`, c.headDim, c] as const))('%s d %i: declared bytes hold what the selector holds', async (_, _d, c) => {
    const { declared, resident, peak } = await measure(c);
    expect(resident, 'resident bytes').toBeLessThanOrEqual(declared.held);
    expect(declared.held, 'declared resident bytes').toBeLessThanOrEqual(1.25 * resident + 4096);
    expect(peak, 'peak bytes').toBeLessThanOrEqual(declared.most);
    expect(declared.most, 'declared peak bytes').toBeLessThanOrEqual(2.5 * peak + 16384);
  });

  it('a selection over more layers counts each layer, the shared scratch once and the largest moment once', () => {
    const b = { layer: 100, scratch: { a: 10, b: 5 }, transient: 7 };
    expect(selectionTotal(b, 0)).toBe(15);
    expect(selectionTotal(b, 3)).toBe(300 + 15 + 7);
  });
});
