/**
 * Long runs that say what they do (issue 22, item 6): past the model's context a run goes on with one
 * warning naming the positions and the limit (capture, eval passkey, generate); progress shows from the
 * start (the first line before the first layer ends, with CLUSTERKV_PROGRESS=lines); Ctrl-C in capture stops
 * with one line and removes the partial file, as SIGTERM does; a partial file left by a killed capture is
 * named and replaced.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const models = path.join('..', 'shared', 'models');
const stories = ['--model', path.join(models, 'stories260K', 'stories260K.bin'), '--tokenizer', path.join(models, 'stories260K', 'tok512.bin')];
const ckvlab = ['--model', path.join(models, 'ckvlab-9m-16k', 'model.bin'), '--tokenizer', path.join(models, 'stories260K', 'tok512.bin')];

afterEach(() => {
  delete process.env.CLUSTERKV_PROGRESS;
});

/** The real CLI, signalled once `when` shows on stderr; resolves to its exit code and stderr. */
function signalled(args: string[], when: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, env: { ...process.env, CLUSTERKV_PROGRESS: 'lines' } });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('past the model context', () => {
  it('capture, eval passkey and generate warn once, naming the positions and the limit, and run', async () => {
    process.env.CLUSTERKV_PROGRESS = 'lines';
    const out = path.join(tempDir(), 'long.safetensors');
    const capture = await runCliCaptured(['capture', ...stories, '--text', 'moby-dick', '--context', '600', '--steps', '2', '--out', out, '--backend', 'wasm']);
    expect(capture.code, capture.stderr).toBe(0);
    const lines = capture.stderr.trim().split('\n');
    expect(lines[0]).toBe("clusterkv: warning: --context 600 + --steps 2 = 602 positions, past the model's context of 512 (stories260K): positions beyond it were never trained, so results there measure extrapolation");
    // progress from the start: the first line before any chunk is done
    expect(lines[1]).toBe('capture 0/5 layer chunks');
    expect(lines.at(-1)).toBe('capture 5/5 layer chunks');
    const evalRun = await runCliCaptured(['eval', 'passkey', ...stories, '--contexts', '600', '--depths', '0.5', '--keys', '1', '--methods', 'full', '--budgets', '32', '--out', path.join(tempDir(), 'pk'), '--backend', 'wasm', '--quiet']);
    expect(evalRun.code, evalRun.stderr).toBe(0);
    const evalLines = evalRun.stderr.trim().split('\n');
    expect(evalLines[0]).toBe("clusterkv: warning: the longest document (--contexts 600) = 600 positions, past the model's context of 512 (stories260K): positions beyond it were never trained, so results there measure extrapolation");
    expect(evalLines[1]).toBe('passkey 0/1 document-cells starting');
    expect(evalLines).toContain('passkey 0/1 document-cells c600-d0.5-k0: prefill of 600 tokens');
    expect(evalLines).toContain('passkey 0/1 document-cells c600-d0.5-k0: prefill of 600 tokens, layer 1/5 done');
    const generate = await runCliCaptured(['generate', ...stories, '--text', 'moby-dick', '--context', '510', '--steps', '4', '--backend', 'wasm']);
    expect(generate.code, generate.stderr).toBe(0);
    expect(generate.stderr.split('\n')[0]).toBe("clusterkv: warning: the prompt's 510 tokens + --steps 4 = 514 positions, past the model's context of 512 (stories260K): positions beyond it were never trained, so results there measure extrapolation");
    const inside = await runCliCaptured(['generate', ...stories, '--text', 'moby-dick', '--context', '500', '--steps', '4', '--backend', 'wasm']);
    expect(inside.stderr).not.toContain('warning');
  }, 300_000);
});

describe('past the machine', () => {
  it('a context whose keys and values cannot fit this machine is one line naming the bytes and the memory, at once', async () => {
    const t0 = Date.now();
    for (const [args, what] of [
      [['capture', ...ckvlab, '--text', 'moby-dick', '--context', '90000000000', '--steps', '2', '--out', path.join(tempDir(), 'x.safetensors')], '--context 90000000000 \\+ --steps 2 = 90000000002 positions'],
      [['eval', 'passkey', ...ckvlab, '--contexts', '512,90000000000', '--budgets', '32', '--out', path.join(tempDir(), 'pk')], 'the longest document \\(--contexts 90000000000\\) = 90000000000 positions'],
      [['generate', ...ckvlab, '--text', 'moby-dick', '--context', '90000000000', '--steps', '2'], '--context 90000000000 \\+ --steps 2 = 90000000002 positions'],
    ] as [string[], string][]) {
      const run = await runCliCaptured([...args, '--backend', 'wasm']);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^clusterkv: ${what}: the model's keys, values and activations need about [\\d.]+ [GMT]B, more than this machine's [\\d.]+ GB of memory\\n$`));
    }
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 120_000);
});

describe('capture interrupted', () => {
  it('Ctrl-C stops with one line, exit 130, and leaves neither the trace nor its partial file', async () => {
    const out = path.join(tempDir(), 'c.safetensors');
    const run = await signalled(['capture', ...ckvlab, '--text', 'moby-dick', '--context', '2048', '--steps', '2', '--out', out, '--backend', 'wasm'], /capture 1\/18 layer chunks/, 'SIGINT');
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('clusterkv: stopping after the current row chunk (Ctrl-C again to quit at once)');
    const last = run.stderr.trim().split('\n').at(-1)!;
    expect(last.replace(/layer \d of 6/, 'layer L of 6')).toBe(`clusterkv: capture interrupted in layer L of 6: nothing written to ${out} (its partial file removed)`);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  }, 120_000);

  it('SIGTERM stops with one line, exit 143, no partial file; a stale partial file is named and replaced', async () => {
    const out = path.join(tempDir(), 'c.safetensors');
    writeFileSync(`${out}.partial`, 'left by a capture that was killed');
    const run = await signalled(['capture', ...ckvlab, '--text', 'moby-dick', '--context', '2048', '--steps', '2', '--out', out, '--backend', 'wasm'], /capture 1\/18 layer chunks/, 'SIGTERM');
    expect(run.stderr.split('\n')[0]).toBe(`clusterkv: warning: ${out}.partial is left from a capture that was killed; this capture replaces it`);
    expect(run.code, run.stderr).toBe(143);
    expect(run.stderr.trim().split('\n').at(-1)).toBe(`clusterkv: capture terminated: nothing written to ${out}`);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
