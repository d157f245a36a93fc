/**
 * Backend parity: every kernel of the kernel list on every path of the backend named by env
 * CLUSTERKV_BACKEND (default wasm), and the pipeline, against the cpu backend's op chains (src/sim/parity.ts
 * states the tolerances). On a GPU host the same check runs without vitest as `clusterkv parity --backend webgpu`.
 */
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../src/gpu/kernel-list.js';
import { batchedParityCases } from '../../src/sim/batched-parity.js';
import { runParity, type ParityReport } from '../../src/sim/parity.js';
import { softwareWebgpu } from '../helpers/software-webgpu.js';

const target = process.env.CLUSTERKV_BACKEND || 'wasm';

function expectPass(report: ParityReport): void {
  expect(report.leakedTensors).toBe(0);
  for (const check of report.checks) {
    if (check.kind === 'float') expect(check.worst, `${check.output} (${check.path}): worst relative difference`).toBeLessThan(check.tolerance!);
    else expect(check.worst, `${check.output} (${check.path}): mismatching elements`).toBe(0);
  }
  expect(report.pass).toBe(true);
}

describe(`backend parity: ${target} vs cpu`, () => {
  it('gives the cpu results on every kernel of the list and the pipeline, without leaking tensors', async () => {
    const report = await runParity(target, 'cpu');
    expectPass(report);
    // every kernel with an op chain is compared at every shape; the pipeline outputs too
    const compared = new Set(report.checks.filter((c) => c.path === 'ops').map((c) => c.output.split('#')[0]));
    expect([...compared].sort()).toEqual(KERNELS.filter((k) => k.paths.includes('ops')).map((k) => k.name).sort());
    expect(report.checks.filter((c) => c.path === 'pipeline').length).toBeGreaterThanOrEqual(6);
  });
});

const noSoftware = target === 'webgpu' ? 'webgpu is the target above' : await softwareWebgpu();

describe.skipIf(!!noSoftware)('backend parity: webgpu (software adapter) vs cpu, op chains and WGSL kernels', () => {
  it('gives the cpu results on both paths of every kernel, without leaking tensors', async () => {
    const report = await runParity('webgpu', 'cpu');
    expectPass(report);
    const wgsl = new Set(report.checks.filter((c) => c.path === 'wgsl').map((c) => c.output.split('#')[0]));
    expect([...wgsl].sort()).toEqual(KERNELS.filter((k) => k.paths.includes('wgsl') && k.paths.includes('ops')).map((k) => k.name).sort());
    expect(report.notCompared).toEqual(['read']);
    // every method's batched selection against its tfjs selector (batched-parity.ts)
    expect(report.checks.filter((c) => c.path === 'batched').length).toBe(batchedParityCases().cases.length);
  });
});
