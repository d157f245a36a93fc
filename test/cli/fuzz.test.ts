/**
 * The trace fuzzer (issue 12, item 13): seeded variants of a valid trace (test/helpers/trace-fuzz.ts) through
 * `clusterkv info`, `sweep` and `export`, in process (a child runs runCli, so that a hang is seen and the rest
 * still runs) and a few through the real CLI. Every run ends in exit 0, or exit 1 with one line
 * `clusterkv: ...`: no crash, no hang, no stack trace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticTrace } from '../../src/trace/index.js';
import { fuzzVariants, type FuzzVariant } from '../helpers/trace-fuzz.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const SEED = 12;
/** No report line for this long: the run hangs (a run here takes well under a second). */
const HANG_MS = 30_000;

interface RunResult {
  index: number;
  command: string;
  /** exit code of runCli; 'hang' or 'crash' (the child died) otherwise */
  code: number | 'hang' | 'crash';
  stderr: string;
}

/** Runs every variant in `dir` through the child runner, restarting it after a hang or a crash. */
async function runAll(dir: string, work: string, runs: number): Promise<RunResult[]> {
  const results: RunResult[] = [];
  let next = 0;
  while (next < runs) {
    const { lastStart, ended, died } = await new Promise<{ lastStart?: { run: number; index: number; command: string }; ended: boolean; died: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'helpers', 'fuzz-runner.ts'), dir, work, String(next)], { cwd: root });
      let buffered = '';
      let errText = '';
      let lastStart: { run: number; index: number; command: string } | undefined;
      let ended = false;
      let timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
      child.stdout.on('data', (chunk: Buffer) => {
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const event = JSON.parse(line);
          if (event.event === 'start') lastStart = { run: event.run, index: event.index, command: event.command };
          else if (event.event === 'done') {
            results.push({ index: event.index, command: event.command, code: event.code, stderr: event.stderr });
            lastStart = undefined;
          } else if (event.event === 'end') ended = true;
        }
      });
      child.stderr.on('data', (chunk: Buffer) => { errText += chunk.toString(); });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ lastStart, ended, died: `exit ${code} ${signal ?? ''} ${errText}` });
      });
    });
    if (ended) break;
    if (!lastStart) throw new Error(`fuzz runner stopped between runs: ${died}`);
    // the run that started and never reported: a hang (killed by the watchdog) or a crash
    results.push({ index: lastStart.index, command: lastStart.command, code: died.includes('SIGKILL') ? 'hang' : 'crash', stderr: died });
    next = lastStart.run + 1;
  }
  return results;
}

describe('trace fuzzer', () => {
  const dir = tempDir('ckv-fuzz-');
  const variantsDir = path.join(dir, 'variants');
  let variants: FuzzVariant[] = [];

  beforeAll(async () => {
    const base = path.join(dir, 'base.safetensors');
    await writeSyntheticTrace(base, { layers: 2, heads: 2, kvHeads: 1, headDim: 4, context: 40, steps: 2, seed: 3, dtype: 'F16', topics: 4 });
    variants = fuzzVariants(new Uint8Array(readFileSync(base)), SEED);
    mkdirSync(variantsDir);
    variants.forEach((v, i) => writeFileSync(path.join(variantsDir, `${String(i).padStart(4, '0')}.safetensors`), v.bytes));
  });

  it('makes at least 200 seeded variants, the same for the same seed', () => {
    expect(variants.length).toBeGreaterThanOrEqual(200);
    const kinds = new Set(variants.map((v) => v.name.split('/')[0]));
    expect([...kinds].sort()).toEqual(['extend', 'flip', 'header', 'huge', 'length', 'manifest', 'metadata', 'tensor', 'truncate']);
    const again = fuzzVariants(new Uint8Array(readFileSync(path.join(dir, 'base.safetensors'))), SEED);
    expect(again.map((v) => v.name)).toEqual(variants.map((v) => v.name));
  });

  it('info, sweep and export: no crash, no hang, no stack trace; each error one line, exit 1', async () => {
    const results = await runAll(variantsDir, path.join(dir, 'work'), variants.length * 3);
    expect(results).toHaveLength(variants.length * 3);
    const label = (r: RunResult) => `${r.command} on ${variants[r.index].name}: ${String(r.code)} ${r.stderr.slice(0, 400)}`;
    const hangs = results.filter((r) => r.code === 'hang');
    const crashes = results.filter((r) => r.code === 'crash' || (typeof r.code === 'number' && r.code !== 0 && r.code !== 1));
    const stacks = results.filter((r) => /\n\s+at |internal error/.test(r.stderr));
    const notOneLine = results.filter((r) => r.code === 1 && !/^clusterkv: [^\n]+\n$/.test(r.stderr));
    const rejected = results.filter((r) => r.code === 1).length;
    console.log(`fuzz (seed ${SEED}): ${variants.length} variants x 3 commands = ${results.length} runs: ${rejected} one-line errors, ${results.length - rejected - hangs.length - crashes.length} accepted, ${crashes.length} crashes, ${hangs.length} hangs, ${stacks.length} stack traces`);
    expect(hangs.map(label)).toEqual([]);
    expect(crashes.map(label)).toEqual([]);
    expect(stacks.map(label)).toEqual([]);
    expect(notOneLine.map(label)).toEqual([]);
    // a valid file is accepted: the data flips that leave finite values, for one
    expect(results.some((r) => r.code === 0)).toBe(true);
    expect(rejected).toBeGreaterThan(variants.length * 2);
  }, 600_000);

  it('the real CLI gives the same one-line errors (a few variants)', () => {
    const picks = ['truncate/header only', 'manifest/model.layers = 3', 'huge/model.layers = 2147483648', 'length/18446744073709551615', 'tensor/'];
    for (const pick of picks) {
      const i = variants.findIndex((v) => v.name.startsWith(pick));
      expect(i, pick).toBeGreaterThanOrEqual(0);
      const file = path.join(variantsDir, `${String(i).padStart(4, '0')}.safetensors`);
      const run = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'info', file], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, variants[i].name).toBe(1);
      expect(run.stderr, variants[i].name).toMatch(/^clusterkv: [^\n]+\n$/);
      expect(run.stderr).toContain(file);
    }
  }, 120_000);
});
