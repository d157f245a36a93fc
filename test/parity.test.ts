/**
 * Backend parity: every ClusterKV kernel on the backend named by env CLUSTERKV_BACKEND (default wasm)
 * against the cpu backend (src/gpu/parity.ts states the tolerances). On a GPU host the same check runs
 * without vitest as `clusterkv parity --backend webgpu`.
 */
import { describe, expect, it } from 'vitest';
import { FLOAT_TOLERANCE, runParity } from '../src/sim/parity.js';

const target = process.env.CLUSTERKV_BACKEND || 'wasm';

describe(`backend parity: ${target} vs cpu`, () => {
  it('gives the cpu results on every kernel, without leaking tensors', async () => {
    const report = await runParity(target, 'cpu');
    expect(report.leakedTensors).toBe(0);
    expect(report.checks.length).toBeGreaterThanOrEqual(14);
    for (const check of report.checks) {
      if (check.kind === 'float') expect(check.worst, `${check.output}: worst relative difference`).toBeLessThan(FLOAT_TOLERANCE);
      else expect(check.worst, `${check.output}: mismatching elements`).toBe(0);
    }
    expect(report.pass).toBe(true);
  });
});
