/**
 * A configuration too large for the device (issue 22, item 15): one line naming the bytes and the limit,
 * before anything is allocated, instead of a run that times work that never ran (and a page of schema
 * errors about NaN): the card's memory (8B fp32 at 32K x 8 on an 80 GB H100) and WebGPU's buffer limits
 * (checked through the real CLI on the software adapter, whose binding limit is 128 MiB).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { e2eFootprint, footprintProblem } from '../../../src/model/e2e/footprint.js';
import { LLAMA3_8B_SHAPE, kvBytes, parameterCounts } from '../../../src/model/e2e/shape.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';

const root = path.join(__dirname, '..', '..', '..');
const H100 = { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 31 - 4, memory: { bytes: 81559 * 2 ** 20, source: 'nvidia-smi memory.total' } };

describe('e2e footprint', () => {
  it('8B fp32 at 32K x 8 needs about 97 GB: more than an 80 GB H100, said in one line with both numbers', () => {
    const fp = e2eFootprint(LLAMA3_8B_SHAPE, 8, 32768 + 100);
    expect(fp.weights).toBe(4 * parameterCounts(LLAMA3_8B_SHAPE).total);
    expect(fp.kv).toBe(8 * kvBytes(LLAMA3_8B_SHAPE, 32868));
    const line = footprintProblem(fp, H100)!;
    expect(line).toMatch(/^needs 97\.9 GB of GPU memory \(fp32 weights 29\.0 GB \+ K\/V caches 68\.9 GB\), more than the card's 85\.5 GB \(nvidia-smi memory\.total\)$/);
    expect(line).not.toContain('\n');
  });

  it('fits where it fits: one sequence at 32K, and 8 at 32K on a 141 GB H200', () => {
    expect(footprintProblem(e2eFootprint(LLAMA3_8B_SHAPE, 1, 32868), H100)).toBeUndefined();
    expect(footprintProblem(e2eFootprint(LLAMA3_8B_SHAPE, 8, 32868), { ...H100, memory: { bytes: 143771 * 2 ** 20, source: 'nvidia-smi memory.total' } })).toBeUndefined();
    // without a known memory only the buffer limits are checked (the run's out-of-memory scope does the rest)
    expect(footprintProblem(e2eFootprint(LLAMA3_8B_SHAPE, 8, 32868), { ...H100, memory: undefined })).toBeUndefined();
  });

  it('a buffer past the binding limit names the buffer, its bytes and the limit', () => {
    const line = footprintProblem(e2eFootprint(LLAMA3_8B_SHAPE, 8, 131072), H100)!;
    expect(line).toMatch(/^one layer's key cache \(8 x 8 KV heads x 131072 positions x 128\) is 4\.3 GB \(4294967296 bytes\), more than the device's maxStorageBufferBindingSize of 2\.1 GB \(2147483644 bytes\)$/);
  });
});

const skip = await softwareWebgpu();

describe('clusterkv e2e too large for the device', () => {
  it.skipIf(!!skip)('fails at once in one line naming the bytes and the limit (software adapter: 128 MiB per binding)', () => {
    const t0 = Date.now();
    const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'e2e', '--shape', 'tiny', '--contexts', '140000', '--batches', '8', '--budgets', '64', '--steps', '2', '--rounds', '1', '--warmup', '0', '--breakdown-steps', '0', '--ceiling-mb', '1'], {
      cwd: root, encoding: 'utf8', env: { ...process.env, CLUSTERKV_WEBGPU_ADAPTER: 'software' }, timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(1);
    const last = run.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^clusterkv: e2e context 140000, batch 8: one layer's key cache \(8 x 2 KV heads x 140\d+ positions x 16\) is 143\.\d MB \(\d+ bytes\), more than the device's maxStorageBufferBindingSize of 134\.2 MB \(134217728 bytes\)$/);
    expect(run.stderr).not.toMatch(/ZodError|NaN|\n\s+at /);
    expect(run.stdout).toBe('');
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 120_000);
});
