/** `clusterkv synth`, `info` and `export`, run as a user would: node bin/clusterkv.js. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthOptionsFromFlags } from '../../src/cli/commands/synth.js';
import { UserError } from '../../src/cli/errors.js';
import { TraceReader, writeSyntheticTrace } from '../../src/trace/index.js';
import { runCliCaptured } from '../helpers/cli.js';

const root = path.join(__dirname, '..', '..');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ckv-cli-'));

function clusterkv(...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A user error: exit 1 and exactly one line `clusterkv: ...`, no stack trace. */
function expectUserError(run: ReturnType<typeof clusterkv>, pattern: RegExp): void {
  expect(run.code).toBe(1);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^clusterkv: /);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('clusterkv synth / info / export', () => {
  it('synthesizes, describes and exports a trace', () => {
    const dir = tmp();
    const file = path.join(dir, 'a.safetensors');
    const synth = clusterkv('synth', '--out', file, '--layers', '2', '--heads', '4', '--kv-heads', '2', '--head-dim', '16', '--context', '256', '--steps', '3', '--seed', '5', '--dtype', 'F32');
    expect(synth.stderr).toBe('');
    expect(synth.code).toBe(0);
    expect(synth.stdout).toMatch(/wrote .*a\.safetensors: 2 layers, 4 heads, 2 KV heads, d 16, 256 tokens, 3 steps, F32, seed 5/);

    const info = clusterkv('info', file);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/context 256, prefill 253, 3 decode steps at \[253, 254, 255\], F32/);
    expect(info.stdout).toMatch(/layers\.1\.out\s+F32\s+\[3, 4, 16\]\s+768/);
    expect(info.stdout).toMatch(/keyNormMean\s+queryNormMean\s+valueStd\s+min\s+max/);

    const json = clusterkv('info', file, '--json');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.manifest.seed).toBe(5);
    expect(parsed.tensors).toHaveLength(9);
    expect(parsed.layers).toHaveLength(2);
    expect(parsed.layers[0].valueStd).toBeGreaterThan(0.8); // values are standard normal
    expect(parsed.layers[0].valueStd).toBeLessThan(1.2);

    const out = path.join(dir, 'b.safetensors');
    const exp = clusterkv('export', file, '--out', out, '--layers', '1', '--kv-heads', '0', '--steps', '0,2', '--dtype', 'F16');
    expect(exp.stderr).toBe('');
    expect(exp.code).toBe(0);
    expect(exp.stdout).toMatch(/1 layer, 2 heads, 1 KV head, 2 steps, F16/);
    return TraceReader.open(out).then(async (r) => {
      expect(r.tensors.get('layers.0.q')!.shape).toEqual([2, 2, 16]);
      expect(r.manifest.stepPositions).toEqual([253, 255]);
      await r.close();
    });
  });

  it('export --out onto its own input (or a link to it) is refused and leaves the input whole (issue 22, item 5)', async () => {
    const dir = tmp();
    const file = path.join(dir, 'T.safetensors');
    await writeSyntheticTrace(file, { layers: 2, heads: 2, kvHeads: 1, headDim: 8, context: 64, steps: 2, seed: 1 });
    const before = readFileSync(file);
    symlinkSync(file, path.join(dir, 'link.safetensors'));
    for (const out of [file, path.join(dir, 'link.safetensors'), path.join(dir, '.', 'T.safetensors')]) {
      const run = await runCliCaptured(['export', file, '--out', out, '--layers', '0']);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`clusterkv: --out ${out}: is the input ${file}; writing there would destroy it, so choose another file\n`);
    }
    expect(readFileSync(file).equals(before)).toBe(true);
    expect((await runCliCaptured(['export', file, '--out', path.join(dir, 'U.safetensors'), '--layers', '0'])).code).toBe(0);
  });

  it('rejects bad flags with one line naming the flag', () => {
    const file = path.join(tmp(), 'x.safetensors');
    expectUserError(clusterkv('synth', '--out', file, '--heads', '6', '--kv-heads', '4'), /--heads \(6\) must be a multiple of --kv-heads \(4\)/);
    expectUserError(clusterkv('synth', '--out', file, '--layers', 'two'), /--layers must be an integer, got 'two'/);
  });

  it('validates every synth flag (in process: each spawn costs seconds)', () => {
    const base = { out: 'x', layers: '1', heads: '4', kvHeads: '2', headDim: '8', context: '64', steps: '2', seed: '0', dtype: 'f16', topics: '4', ropeTheta: '10000' };
    expect(synthOptionsFromFlags(base)).toMatchObject({ layers: 1, heads: 4, kvHeads: 2, headDim: 8, context: 64, steps: 2, seed: 0, dtype: 'F16', topics: 4, ropeTheta: 10000 });
    const cases: [Partial<typeof base>, RegExp][] = [
      [{ context: '8', steps: '8' }, /--steps \(8\) must be smaller than --context \(8\)/],
      [{ dtype: 'F64' }, /--dtype must be F16 or F32, got 'F64'/],
      [{ headDim: '7' }, /--head-dim must be even/],
      [{ kvHeads: '0' }, /--kv-heads must be >= 1, got 0/],
      [{ seed: '-1' }, /--seed must be >= 0/],
      [{ steps: '1.5' }, /--steps must be an integer, got '1.5'/],
      [{ ropeTheta: 'big' }, /--rope-theta must be a number > 1, got 'big'/],
    ];
    for (const [flags, message] of cases) {
      expect(() => synthOptionsFromFlags({ ...base, ...flags })).toThrow(UserError);
      expect(() => synthOptionsFromFlags({ ...base, ...flags })).toThrow(message);
    }
  });

  it('reports a malformed trace as one line, exit 1', () => {
    const dir = tmp();
    const bad = path.join(dir, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([3, 0, 0]));
    expectUserError(clusterkv('info', bad), /bad\.safetensors: truncated header/);
    expectUserError(clusterkv('info', path.join(dir, 'missing.safetensors')), /missing\.safetensors: no such file/);
  });
});
