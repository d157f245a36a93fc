/**
 * `clusterkv doctor` and the tfjs banner (issue 22, item 14): doctor names the default backend (the one a
 * command without --backend runs on) and says no WGSL kernels where webgpu does not load; no command prints
 * tfjs's "looks like you are running TensorFlow.js in Node.js" banner.
 */
import { describe, expect, it } from 'vitest';
import { clusterkvProcess, runCliCaptured } from '../helpers/cli.js';

interface Report {
  kernelPath: string | null;
  defaultBackend: { name: string | null; why: string };
  backends: { name: string; loaded: boolean; check?: { ok: boolean } }[];
}

describe('clusterkv doctor', () => {
  it('names the default backend: the first that loads, or CLUSTERKV_BACKEND', async () => {
    const report = JSON.parse((await runCliCaptured(['doctor', '--json'])).stdout) as Report;
    const first = report.backends.find((b) => b.check?.ok && !(b.name === 'webgpu' && process.env.CLUSTERKV_WEBGPU_ADAPTER === 'software'))!;
    expect(report.defaultBackend).toEqual({ name: first.name, why: 'the first of tensorflow, webgpu, wasm, cpu that loads here' });
    const text = await runCliCaptured(['doctor']);
    expect(text.stdout.split('\n')[1]).toBe(`default backend: ${first.name} (the first of tensorflow, webgpu, wasm, cpu that loads here; --backend or CLUSTERKV_BACKEND chooses)`);
    process.env.CLUSTERKV_BACKEND = 'cpu';
    try {
      expect((await runCliCaptured(['doctor'])).stdout.split('\n')[1]).toBe('default backend: cpu (CLUSTERKV_BACKEND=cpu; --backend or CLUSTERKV_BACKEND chooses)');
    } finally {
      delete process.env.CLUSTERKV_BACKEND;
    }
    // kernels on webgpu only where webgpu loads
    const webgpu = report.backends.find((b) => b.name === 'webgpu')!;
    if (webgpu.check?.ok) expect(report.kernelPath).toMatch(/^(wgsl|ops)$/);
    else {
      expect(report.kernelPath).toBeNull();
      expect(text.stdout.split('\n')[0]).toMatch(/, kernels on webgpu: none \(webgpu does not load here\)$/);
    }
  }, 120_000);

  it("prints no tfjs banner (doctor runs the cpu backend without --backend, where the CLI's silencing did not reach)", () => {
    const run = clusterkvProcess(['doctor']);
    expect(run.stdout).toMatch(/^node v/);
    expect(run.stdout + run.stderr).not.toMatch(/looks like you are running TensorFlow\.js in Node\.js/);
  }, 120_000);
});
