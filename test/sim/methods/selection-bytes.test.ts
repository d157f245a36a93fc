/**
 * Each batched method's declared GPU bytes (SelectionBytes, src/sim/batched-selector.ts: what the engine's
 * footprint adds up before it allocates) against what its selector really holds on the software adapter,
 * from the prompt through closing decode windows up to the capacity:
 *   resident   tensors in use (tfjs's pool, bytes in use) plus the raw buffers it made (scratch included)
 *              once the last step ran: the declared layer + scratch, within 25% and a few KB of rounding
 *   peak       the pool's growth (trimmed before the selectors start, then as the engine trims: after a step
 *              that met a new layout of windows) plus the raw buffers, read after every prefill and every
 *              layer's step: at most the declared layers (with their rebuilt state) + scratch + transient,
 *              and more than 1/2.5 of it
 * over one layer, and over six (the engine's layers rebuild in turn within one step).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUFFER_USAGE, bufferPoolBytes, gpuIdle, trimBufferPool, webgpuBackend } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { recordStep } from '../../../src/gpu/wgsl/runtime/step-recorder.js';
import { BatchedHarness, batchedParityCases, parityInputs, rowsOf, type BatchedParityCase } from '../../../src/sim/batched-parity.js';
import { listCapacity, selectionTotal, type BatchedSelector, type SelectionBytes } from '../../../src/sim/batched-selector.js';
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

/**
 * Runs `layers` selectors of the case's method (layers 3, 4, ...) over one harness as the engine runs them:
 * every layer's step in turn, the step's dispatches, then a trim of the pool after a step that met a new
 * layout of windows (decode-engine.ts). The pool's size is read after every layer's step (it counts what it
 * created, in use or free, at once) and after the prefill.
 */
async function measure(c: BatchedParityCase, layers = 1): Promise<{ declared: ReturnType<typeof declaredOf>; resident: number; peak: number }> {
  const method = createMethod(c.method, c.params);
  const form = method.engine;
  if (form?.kind !== 'batched') throw new Error(`${c.method} has no batched form`);
  const { batch: B, heads: H, kvHeads: G, headDim: d, prompt: P, steps } = c;
  const { T, keys, queries, promptQueries } = parityInputs(c);
  const { budget } = form.budget;
  const harness = new BatchedHarness({ layer: 3, batch: B, heads: H, kvHeads: G, headDim: d, capacity: T }, budget, listCapacity(form.budget, budget));
  const declared = declaredOf(form.bytes({ ...harness.layer, prompt: P }), layers);
  harness.writeKeys(keys, 0, P);
  await gpuIdle();
  trimBufferPool();
  const base = { raw: rawLive, pool: bufferPoolBytes() };
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, bufferPoolBytes().allocated - base.pool.allocated + rawLive - base.raw);
  };
  const selectors = Array.from({ length: layers }, (_, l) => form.forLayer({ ...harness.layer, layer: 3 + l }));
  const probes: BatchedSelector[] = selectors.map((s) => ({
    prefill: (n) => s.prefill(n),
    step: (pos, b) => {
      const plan = s.step(pos, b);
      sample();
      return plan;
    },
    dispose: () => s.dispose(),
  }));
  try {
    for (const s of selectors) {
      if (form.promptQueries) for (let b = 0; b < B; b++) s.promptQueries!(b, 0, promptQueries[b]);
      await s.prefill(P);
      sample();
    }
    let trimmed = -1;
    for (let t = 0; t < steps; t++) {
      harness.writeKeys(keys, P + t, 1);
      const q = new Float32Array(B * H * d);
      for (let b = 0; b < B; b++) q.set(queries[b][t], b * H * d);
      harness.writeQueries(q);
      const plans = probes.map((s) => s.step(P + t, budget));
      for (const plan of plans.slice(1)) recordStep(plan.dispatches);
      await harness.lists(plans[0]);
      sample();
      if (plans[0].layout.closedWindows !== trimmed) {
        trimmed = plans[0].layout.closedWindows;
        trimBufferPool();
      }
    }
    await gpuIdle();
    const resident = bufferPoolBytes().used - base.pool.used + rawLive - base.raw;
    return { declared, resident, peak };
  } finally {
    for (const s of selectors) s.dispose();
    harness.destroy();
  }
}

function declaredOf(b: SelectionBytes, layers: number) {
  const held = selectionTotal({ ...b, rebuilt: 0, transient: 0 }, layers);
  return { held, most: selectionTotal(b, layers) };
}

describe.skipIf(skip)('selection bytes', () => {
  it.each(CASES.map((c) => [`${c.method} ${JSON.stringify(c.params)}`, c.headDim, c] as const))('%s d %i: declared bytes hold what the selector holds', async (_, _d, c) => {
    const { declared, resident, peak } = await measure(c);
    expect(resident, 'resident bytes').toBeLessThanOrEqual(declared.held);
    expect(declared.held, 'declared resident bytes').toBeLessThanOrEqual(1.25 * resident + 4096);
    expect(peak, 'peak bytes').toBeLessThanOrEqual(declared.most);
    expect(declared.most, 'declared peak bytes').toBeLessThanOrEqual(2.5 * peak + 16384);
  });

  // several layers rebuilding in one step: every layer's old state stays in the pool until the step's trim (rebuilt)
  it.each(CASES.filter((c) => c.headDim === 64).map((c) => [`${c.method} ${JSON.stringify(c.params)}`, c] as const))('%s over 6 layers: declared bytes hold what the selectors hold', async (_, c) => {
    const { declared, resident, peak } = await measure(c, 6);
    expect(resident, 'resident bytes').toBeLessThanOrEqual(declared.held);
    expect(declared.held, 'declared resident bytes').toBeLessThanOrEqual(1.25 * resident + 4096);
    expect(peak, 'peak bytes').toBeLessThanOrEqual(declared.most);
    // the unit methods' op-chain intermediates count for up to 5 layers, an upper bound: tfjs's submits (every
    // 15 programs) release some sooner (units-batched.ts PENDING_REBUILDS)
    expect(declared.most, 'declared peak bytes').toBeLessThanOrEqual((['quest', 'infllm'].includes(c.method) ? 5 : 2.5) * peak + 16384);
  });

  it('a selection over more layers counts each layer, the shared scratch once and the largest moment once', () => {
    const b = { layer: 100, scratch: { a: 10, b: 5 }, rebuilt: 40, transient: 7 };
    expect(selectionTotal(b, 0)).toBe(15);
    expect(selectionTotal(b, 3)).toBe(3 * (100 + 40) + 15 + 7);
  });
});
