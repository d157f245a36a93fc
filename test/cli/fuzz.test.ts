/**
 * The trace fuzzer (issue 12, item 13): seeded variants of a valid trace (test/helpers/trace-fuzz.ts) through
 * `clusterkv info`, `sweep` and `export`, in process (a child runs runCli, so that a hang is seen and the rest
 * still runs) and a few through the real CLI. Every run ends in exit 0, or exit 1 with one line
 * `clusterkv: ...`: no crash, no hang, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticTrace } from '../../src/trace/index.js';
import { judge, runFuzz, type RunResult } from '../helpers/fuzz-run.js';
import { FUZZ_COMMANDS, fuzzArgs } from '../helpers/fuzz-runner.js';
import { fuzzVariants, type FuzzVariant } from '../helpers/trace-fuzz.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const SEED = 12;
/** No report line for this long: the run hangs (a run here takes well under a second). */
const HANG_MS = 30_000;

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
    const runs = variants.flatMap((v, i) => FUZZ_COMMANDS.map((command) => ({ name: `${command} on ${v.name}`, argv: fuzzArgs(command, path.join(variantsDir, `${String(i).padStart(4, '0')}.safetensors`), path.join(dir, 'work', String(i))) })));
    const results = await runFuzz(runs, path.join(dir, 'runs.json'), HANG_MS);
    expect(results).toHaveLength(variants.length * 3);
    const label = (r: RunResult) => `${runs[r.index].name}: ${String(r.code)} ${r.stderr.slice(0, 400)}`;
    const { hangs, crashes, stacks, rejected } = judge(results);
    // these commands print nothing else on stderr: an error is exactly one line
    const notOneLine = results.filter((r) => r.code === 1 && !/^clusterkv: [^\n]+\n$/.test(r.stderr));
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
