// The model runtime's suites of the benchmark driver (bench/run.ts engine, engine-1b, passkey) end to end at
// the tiny size on the software WebGPU adapter, as the GPU host runs them: every run and merged file through
// the schema of its kind, the engine's f32-KV check against a run of the op path on wasm (the same ids), the
// 1B-shaped checkpoint written once and its doctor report beside the e2e runs, and the passkey grid's answers
// against an eval of the same documents on wasm, and the host's comparison of a returned eval folder.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineSpeed } from '../../../src/model/engine/engine-run-file.js';
import type { PasskeyGrid } from '../../../src/model/passkey/passkey-run-file.js';
import { readRunFile } from '../../../src/sim/bench/merge-runs.js';
import { RUN_KINDS } from '../../../bench/run-kinds.js';
import { root } from '../../helpers/cli.js';
import { softwareWebgpu } from '../../helpers/software-webgpu.js';
import { tempDir } from '../../helpers/traces.js';

const skip = await softwareWebgpu();
const env = { ...process.env, CLUSTERKV_WEBGPU_ADAPTER: 'software', CLUSTERKV_PROGRESS: 'off' };
const tsx = (args: string[], extra: Record<string, string> = {}) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...env, ...extra }, timeout: 600_000 });
const json = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
const PASSKEY = path.join(root, '../shared/models/ckvlab-passkey-9m/hf-f16');
const TOK = path.join(root, '../shared/models/stories260K/tok512.bin');

describe.skipIf(!!skip)('the model runtime suites at the tiny size (software adapter)', () => {
  it('engine: prefill and decode rates over fresh processes, each f32-KV check the same ids as the op path on wasm', () => {
    const out = tempDir('ckv-suite-engine-');
    const reference = tsx(['model', '--backend', 'wasm', '--size', 'tiny', '--processes', '1', '--out', out]);
    expect(reference.status, reference.stderr).toBe(0);
    const run = tsx(['engine', '--size', 'tiny', '--processes', '2', '--out', out, '--reference', path.join(out, 'model', 'model-check-1.json')]);
    expect(run.status, run.stderr).toBe(0);
    const dir = path.join(out, 'engine');
    for (const f of ['engine-1.json', 'engine-2.json']) expect(readRunFile(path.join(dir, f), RUN_KINDS).kind.kind).toBe('clusterkv-engine-run');
    const merged = json<EngineSpeed>(path.join(dir, 'engine.json'));
    expect(readRunFile(path.join(dir, 'engine.json'), RUN_KINDS).merged).toBe(true);
    expect(merged).toMatchObject({ processes: 2, runtime: 'WebGPU engine, f32 weights', dtypes: { weights: 'f32', kv: 'f32' } });
    expect(merged.rows.map((r) => [r.attention, r.sameIds, r.decodeTokensPerSecond.processes.length])).toEqual([['dense', true, 2], ['clusterkv', true, 2]]);
    for (const n of [1, 2]) {
      const compare = json<{ results: { attention: string; sameTokens: boolean }[] }>(path.join(dir, `engine-compare-${n}.json`));
      expect(compare.results.map((r) => [r.attention, r.sameTokens])).toEqual([['dense', true], ['clusterkv', true]]);
    }
    // doctor --model ran once, before the processes
    expect(json<{ modelFit: { fits: boolean } }>(path.join(dir, 'doctor.json')).modelFit.fits).toBe(true);
  }, 600_000);

  it('engine-1b: the random checkpoint written once, doctor beside it, e2e --model runs merged', () => {
    const out = tempDir('ckv-suite-1b-');
    const work = tempDir('ckv-suite-1b-work-');
    // a card named, as on a GPU host: the merged file carries it (engine-1b-webgpu-CARD.json), and the bound's
    // report after the merge reads that file (it looked for engine-1b.json, which a GPU host never writes)
    const card = { CLUSTERKV_CARD: 'testcard' };
    const run = tsx(['engine-1b', '--size', 'tiny', '--processes', '1', '--out', out, '--work', work], card);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/wrote .*llama-3\.2-1b-3-layers-vocab-300: llama-3\.2-1b, 0\.183B parameters/);
    expect(run.stderr).toMatch(/^dense: [\d.]+ tokens\/s measured, bytes bound [\d.]+ tokens\/s/m);
    const dir = path.join(out, 'engine-1b');
    expect(readRunFile(path.join(dir, 'engine-1b-webgpu-testcard.json'), RUN_KINDS).kind.kind).toBe('clusterkv-e2e-bench-merged');
    expect(json<{ modelFit: { model: { parameters: number } } }>(path.join(dir, 'doctor.json')).modelFit.model.parameters).toBeGreaterThan(1.8e8);
    // a second run finds the checkpoint there
    const again = tsx(['engine-1b', '--size', 'tiny', '--processes', '1', '--out', out, '--work', work], card);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/the checkpoint is there/);
  }, 600_000);

  it('passkey: one process per context, the answers those of the op path on the same documents', () => {
    const out = tempDir('ckv-suite-pk-');
    const wasm = path.join(out, 'wasm-eval');
    const cpu = spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), 'eval', 'passkey', '--backend', 'wasm', '--model', PASSKEY, '--tokenizer', TOK, '--contexts', '256', '--depths', '0,1', '--keys', '1', '--methods', 'full,clusterkv,quest,streaming,oracle', '--budgets', '32', '--out', wasm, '--quiet'], { cwd: root, encoding: 'utf8', env, timeout: 300_000 });
    expect(cpu.status, cpu.stderr).toBe(0);
    const run = tsx(['passkey', '--size', 'tiny', '--model', PASSKEY, '--tokenizer', TOK, '--out', out, '--reference', wasm]);
    expect(run.status, run.stderr).toBe(0);
    const dir = path.join(out, 'passkey');
    expect(existsSync(path.join(dir, 'passkey-256-1-eval', 'results.csv'))).toBe(true);
    const grid = json<PasskeyGrid>(path.join(dir, 'passkey.json'));
    expect(readRunFile(path.join(dir, 'passkey.json'), RUN_KINDS).merged).toBe(true);
    expect(grid.runtime).toMatch(/^WebGPU engine \(f16 weights, f32 KV, wgsl attention; .*\): full, clusterkv, quest, streaming, oracle$/);
    expect(grid.contexts.map((c) => [c.context, c.documents, c.cells])).toEqual([[256, 2, 5]]);
    expect(grid.contexts[0].answers).toEqual({ compared: 10, sameAnswers: 10, differing: [] });
    // no 256-token context in the study's tables: nothing judged against them
    expect(grid.contexts[0].accuracies.every((a) => a.equal === null)).toBe(true);
    // the host's comparison of the returned folder: against the reference's answers, and tables that disagree
    const folder = path.join(dir, 'passkey-256-1-eval');
    const same = tsx(['compare-passkey', folder, '--reference', wasm]);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toMatch(/0 of 0 accuracies equal study\/passkey-tables\.md's \(5 not in it\); 10 of 10 answers equal /);
    const tables = path.join(out, 'tables.md');
    writeFileSync(tables, '## passkey-accuracy\n\n**context 256** (2 documents)\n\n| method | B=32 |\n| --- | --- |\n| full | 0.999 |\n');
    const off = tsx(['compare-passkey', folder, '--tables', tables]);
    expect(off.status).toBe(1);
    expect(off.stdout).toMatch(/0 of 1 accuracies equal .*tables\.md's \(4 not in it\)\n  context 256 full: [\d.]+, study 0\.999/);
  }, 600_000);
});
