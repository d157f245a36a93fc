/**
 * The model fuzzer (issue 22): the passkey and capture paths (`clusterkv eval passkey`, `clusterkv capture`)
 * given seeded bad inputs (test/helpers/model-fuzz.ts): llama2.c checkpoints with broken headers,
 * truncations and flips; a tiny Hugging Face checkpoint with config.json and safetensors lies; things that
 * are no model; broken tokenizers; passkey formats; texts and fillers; contexts and steps that are no
 * numbers, too small, past the model's context or past the machine's memory. In process through the child
 * runner, as the trace fuzzer. Every run ends in exit 0, or exit 1 whose last stderr line is its one error
 * line `clusterkv: ...` (warnings may come before it): no crash, no hang, no stack trace.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judge, runFuzz, type RunResult } from '../helpers/fuzz-run.js';
import { modelFuzzCases, type FuzzCase } from '../helpers/model-fuzz.js';
import { tempDir } from '../helpers/traces.js';

const SEED = 22;
/** No report line for this long: the run hangs (the slowest here, a passkey document past the model's context, takes seconds). */
const HANG_MS = 60_000;

describe('model fuzzer', () => {
  const dir = tempDir('ckv-fuzz-model-');
  let cases: FuzzCase[] = [];

  beforeAll(() => {
    mkdirSync(path.join(dir, 'inputs'));
    cases = modelFuzzCases(path.join(dir, 'inputs'), path.join(dir, 'work'), SEED);
  });

  it('makes at least 150 seeded cases over every input kind, the same for the same seed', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    const kinds = new Set(cases.map((c) => c.name.split('/')[0]));
    expect([...kinds].sort()).toEqual(['context', 'filler', 'format', 'hf', 'llama2c', 'model', 'text', 'tokenizer']);
    const again = tempDir('ckv-fuzz-model-');
    mkdirSync(path.join(again, 'inputs'));
    expect(modelFuzzCases(path.join(again, 'inputs'), path.join(dir, 'work'), SEED).map((c) => c.name)).toEqual(cases.map((c) => c.name));
  });

  it('capture and eval passkey: no crash, no hang, no stack trace; each error one line, exit 1', async () => {
    const results = await runFuzz(cases, path.join(dir, 'runs.json'), HANG_MS);
    expect(results).toHaveLength(cases.length);
    const label = (r: RunResult) => `${cases[r.index].name}: ${String(r.code)} ${r.stderr.slice(-600)}`;
    const { hangs, crashes, stacks, notOneLine, rejected, accepted, warned } = judge(results);
    const capture = cases.filter((c) => c.argv[0] === 'capture').length;
    console.log(`model fuzz (seed ${SEED}): ${cases.length} cases (${capture} capture, ${cases.length - capture} eval passkey): ${rejected} one-line errors, ${accepted} accepted (${warned} of all runs with a warning), ${crashes.length} crashes, ${hangs.length} hangs, ${stacks.length} stack traces, ${notOneLine.length} errors not one line`);
    expect(hangs.map(label)).toEqual([]);
    expect(crashes.map(label)).toEqual([]);
    expect(stacks.map(label)).toEqual([]);
    expect(notOneLine.map(label)).toEqual([]);
    const byName = (name: string) => results.find((r) => cases[r.index].name === name)!;
    // the valid inputs run: the tiny checkpoint, a context past the model's 512 (one warning), a NaN weight
    for (const name of ['hf/valid tiny checkpoint (capture)', 'hf/valid tiny checkpoint (eval passkey)', 'context/--context "600" (capture)', 'context/--contexts "600" (eval passkey)']) {
      expect(byName(name).code, label(byName(name))).toBe(0);
    }
    expect(byName('context/--contexts "600" (eval passkey)').stderr).toContain("past the model's context of 512");
    // and the broken ones say what is wrong with which option
    expect(byName('model/the tokenizer (capture)').stderr).toMatch(/^clusterkv: --model .*tok512\.bin: bad header/m);
    expect(byName('tokenizer/the model file (eval passkey)').stderr).toMatch(/^clusterkv: --tokenizer .*stories260K\.bin: is the model checkpoint, not a tokenizer$/m);
    expect(byName('context/--contexts "90000000000" (eval passkey)').stderr).toMatch(/more than this machine's [\d.]+ GB of memory\n$/);
    // what this fuzzer found: a config.json of null crashed the loader (exit 70); negative data_offsets read
    // the safetensors header as weights and were accepted
    expect(byName('hf/config.json null (eval passkey)').stderr).toMatch(/config\.json: holds null, not a JSON object\n$/);
    for (const c of ['capture', 'eval passkey']) expect(byName(`hf/safetensors offsets negative (${c})`).stderr).toMatch(/data_offsets \[-64,448\] are not two offsets 0 <= begin <= end\n$/);
    expect(rejected).toBeGreaterThan(cases.length / 2);
  }, 900_000);
});
