/**
 * The passkey eval on the real ckvlab-passkey-9m (wasm): one dense prefill per document and sessions that
 * continue from copies of it decode what a dense session generates; an interrupted eval resumes without
 * lost or duplicated rows and equals an uninterrupted one; a folder refuses another seed or filler; needle
 * recall is 1 for dense attention and 0 where a window cannot reach the needle; InfiniGen gets the prompt
 * queries the prefill keeps; the figures draw from it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../src/gpu/backend.js';
import { generate, greedyId } from '../../../src/model/generate.js';
import { loadModel, loadTokenizer } from '../../../src/model/load.js';
import { decodeAnswer, disposePrefill, prefillPrompt } from '../../../src/model/passkey/decode.js';
import { buildPasskeyDocument } from '../../../src/model/passkey/document.js';
import { NeedleRecallRecorder } from '../../../src/model/passkey/needle-recall.js';
import { readPasskeyEvalFolder } from '../../../src/model/passkey/eval-folder.js';
import { CKVLAB_PASSKEY_FORMAT } from '../../../src/model/passkey/format.js';
import { planDocuments } from '../../../src/model/passkey/plan.js';
import { PasskeyEvalInterrupted, runPasskeyEval, type PasskeyEvalRequest } from '../../../src/model/passkey/runner.js';
import { accuracySummary, denseMisses } from '../../../src/model/passkey/summary.js';
import { createSampler } from '../../../src/model/sampling.js';
import { readText } from '../../../src/model/texts.js';
import type { TextTokenizer } from '../../../src/model/tokenizer.js';
import type { LlamaModel } from '../../../src/model/transformer.js';
import { writePasskeyReport } from '../../../src/plot/passkey-figures.js';
import { createMethod } from '../../../src/sim/methods/index.js';
import { tempDir } from '../../helpers/traces.js';

const MODELS = path.resolve(process.cwd(), '../shared/models');
const request: PasskeyEvalRequest = {
  model: path.join(MODELS, 'ckvlab-passkey-9m/model.bin'),
  tokenizer: path.join(MODELS, 'stories260K/tok512.bin'),
  filler: 'moby-dick',
  format: CKVLAB_PASSKEY_FORMAT,
  contexts: [640],
  depths: [0.25, 0.75],
  keys: 1,
  seed: 0,
  methods: ['full', 'streaming', 'quest'],
  budgets: [16, 96],
};
const CELLS = 1 + 2 * 2;
const DOCS = 2;
let model: LlamaModel;
let tokenizer: TextTokenizer;
let moby: string;

beforeAll(async () => {
  await useBackend('wasm');
  model = await loadModel(request.model);
  tokenizer = await loadTokenizer(request.tokenizer, model);
  moby = (await readText('moby-dick')).text;
});

/** Rows without the timing column, keyed by (document, cell), sorted. */
function rowsOf(dir: string): Record<string, unknown>[] {
  const rows = readPasskeyEvalFolder(dir).table.objects() as Record<string, unknown>[];
  return rows.map(({ decodeSeconds: _t, ...r }) => r).sort((a, b) => `${a.document}/${a.cell}`.localeCompare(`${b.document}/${b.cell}`));
}

describe('passkey eval on ckvlab-passkey-9m', () => {
  it('decodes from one dense prefill what a dense session generates (full, and a budget that covers the document)', async () => {
    const [spec] = planDocuments({ contexts: [640], depths: [0.5], keys: 1, seed: 0 }, moby.length, 5);
    const doc = buildPasskeyDocument(tokenizer, moby, spec, CKVLAB_PASSKEY_FORMAT);
    const dense = await generate(model.session('dense'), doc.tokens, { steps: 7, sampler: createSampler(0, 0) });
    const before = tf.memory().numTensors;
    const prefill = await prefillPrompt(model, doc.tokens);
    for (const method of [createMethod('full'), createMethod('streaming', { budget: 10_000 }), createMethod('clusterkv', { budget: 10_000 })]) {
      const decoded = await decodeAnswer(model, prefill, method, 7, doc.needlePositions, doc.keyPositions);
      expect(decoded.ids, method.name).toEqual(dense.ids);
      // layers 2..5 at answer steps 1..6
      expect(decoded.records).toHaveLength(4 * 6);
      for (const r of decoded.records) {
        expect(r.needleCoverage).toBe(1);
        expect(r.keyMassRecall).toBeCloseTo(1, 5);
        expect(r.massRecall).toBeCloseTo(1, 4);
      }
    }
    expect(dense.ids).toEqual(doc.answer);
    disposePrefill(prefill);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("infinigen's skew is fit on the prompt queries the shared prefill keeps, as in a session that runs the prompt itself", async () => {
    const [spec] = planDocuments({ contexts: [640], depths: [0.5], keys: 1, seed: 0 }, moby.length, 5);
    const doc = buildPasskeyDocument(tokenizer, moby, spec, CKVLAB_PASSKEY_FORMAT);
    const method = createMethod('infinigen', { budget: 24, select: 'top-b' });
    const prefill = await prefillPrompt(model, doc.tokens);
    expect(prefill.state.queries?.map((q) => q.shape)).toEqual(new Array(6).fill([6, doc.tokens.length, 64]));
    const shared = await decodeAnswer(model, prefill, method, 7, doc.needlePositions, doc.keyPositions);
    // its own session: the prompt goes through the selector's prefill with the queries it computes
    const recorder = new NeedleRecallRecorder({ needle: doc.needlePositions, key: doc.keyPositions, promptLength: doc.tokens.length, layers: (l) => l >= 2 });
    const own = model.session(method, { observer: recorder.observer });
    const ids = [await greedyId(await own.forward(doc.tokens, true))];
    while (ids.length < 7) ids.push(await greedyId(await own.step(ids[ids.length - 1])));
    own.dispose();
    expect(ids).toEqual(shared.ids);
    expect(recorder.records).toEqual(shared.records);
    // without the kept queries it fits on the prompt keys, and selects otherwise: the queries do reach it
    const { queries: _q, ...withoutQueries } = prefill.state;
    const onKeys = await decodeAnswer(model, { ...prefill, state: withoutQueries }, method, 7, doc.needlePositions, doc.keyPositions);
    expect(onKeys.records.map((r) => r.massRecall)).not.toEqual(shared.records.map((r) => r.massRecall));
    disposePrefill(prefill);
  });

  it('an interrupted eval resumes without lost or duplicated rows, and equals an uninterrupted one', async () => {
    const whole = tempDir();
    const a = await runPasskeyEval(request, whole, { backend: 'wasm', model, tokenizer });
    expect(a.computed).toBe(DOCS * CELLS);
    expect(a.table.numRows()).toBe(DOCS * CELLS);

    const dir = tempDir();
    const controller = new AbortController();
    await expect(runPasskeyEval(request, dir, { backend: 'wasm', model, tokenizer, signal: controller.signal, onProgress: (done) => done === 3 && controller.abort() })).rejects.toThrow(PasskeyEvalInterrupted);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.progress).toEqual({ done: 3, total: DOCS * CELLS });
    expect(existsSync(path.join(dir, 'results.csv'))).toBe(false);
    expect(() => readPasskeyEvalFolder(dir)).toThrow(/passkey eval not finished \(interrupted: 3 of 10 document-cells done\)/);

    const b = await runPasskeyEval(request, dir, { backend: 'wasm', model, tokenizer });
    expect([b.skipped, b.computed]).toEqual([3, DOCS * CELLS - 3]);
    const resumed = rowsOf(dir);
    expect(resumed).toHaveLength(DOCS * CELLS);
    expect(new Set(resumed.map((r) => `${r.document}/${r.cell}`)).size).toBe(DOCS * CELLS);
    expect(resumed).toEqual(rowsOf(whole));
    // per-step needle recall: sparse layers 2..5 x answer steps 1..6 for each document-cell, none twice
    const steps = readPasskeyEvalFolder(dir).steps!.objects() as Record<string, unknown>[];
    expect(steps).toHaveLength(DOCS * CELLS * 4 * 6);
    expect(new Set(steps.map((s) => `${s.document}/${s.cell}/${s.step}/${s.layer}`)).size).toBe(steps.length);

    // a finished folder computes nothing again
    const c = await runPasskeyEval(request, dir, { backend: 'wasm', model, tokenizer });
    expect([c.skipped, c.computed]).toEqual([DOCS * CELLS, 0]);
  });

  it('scores the answers and explains them by needle recall; summarises accuracy per method and budget', async () => {
    const dir = tempDir();
    const result = await runPasskeyEval(request, dir, { backend: 'wasm', model, tokenizer });
    const rows = result.table.objects() as Record<string, unknown>[];
    for (const r of rows) {
      expect(r.expected).toBe(` ${r.key}.`);
      expect(r.correct).toBe(r.generated === r.expected ? 1 : 0);
      expect(r.tokens).toBeGreaterThanOrEqual(636);
    }
    const full = rows.filter((r) => r.method === 'full');
    expect(full.map((r) => r.correct)).toEqual([1, 1]);
    expect(full.every((r) => r.needleCoverage === 1 && r.keyMassRecall === 1 && r.budget === null)).toBe(true);
    // streaming keeps the sinks and the last 16 tokens: the needle (at depth 0.25 or 0.75 of 640 tokens) is out of reach
    const stream16 = rows.filter((r) => r.method === 'streaming' && r.budget === 16);
    expect(stream16.every((r) => r.needleCoverage === 0 && r.keyMassRecall === 0)).toBe(true);
    expect(denseMisses(result.table)).toEqual([]);
    const summary = accuracySummary(result.table);
    expect(summary.rows.map((r) => [r.method, r.budget, r.documents])).toEqual([['full', null, 2], ['streaming', 16, 2], ['streaming', 96, 2], ['quest', 16, 2], ['quest', 96, 2]]);
    const quest96 = rows.filter((r) => r.method === 'quest' && r.budget === 96);
    expect(summary.rows.find((r) => r.method === 'quest' && r.budget === 96)!.accuracy).toBe(quest96.reduce((a, r) => a + Number(r.correct), 0) / 2);
    // the figures of the folder
    const files = await writePasskeyReport(dir);
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['index.html', 'passkey-accuracy-vs-budget.html', 'passkey-accuracy-vs-key-recall.html', 'passkey-depth-context-b16.html', 'plotly.min.js']);
  });

  it('refuses a folder of another seed or filler, and a bad cell before writing anything', async () => {
    const dir = tempDir();
    const small = { ...request, depths: [0.5], methods: ['full'] };
    await runPasskeyEval(small, dir, { backend: 'wasm', model, tokenizer });
    await expect(runPasskeyEval({ ...small, seed: 1 }, dir, { backend: 'wasm', model, tokenizer })).rejects.toThrow(/holds a passkey eval of another seed \(--seed 0\); choose another --out/);
    const filler = path.join(tempDir(), 'filler.txt');
    writeFileSync(filler, moby.slice(0, 20_000));
    await expect(runPasskeyEval({ ...small, filler }, dir, { backend: 'wasm', model, tokenizer })).rejects.toThrow(/holds a passkey eval of another filler \(moby-dick, sha256 [0-9a-f]{12}\)/);
    const fresh = tempDir();
    await expect(runPasskeyEval({ ...small, methods: ['clusterkv'], grid: { scoring: ['median'] } }, fresh, { backend: 'wasm', model, tokenizer })).rejects.toThrow(/'scoring' must be one of centroid \| bound/);
    expect(existsSync(path.join(fresh, 'manifest.json'))).toBe(false);
  });
});
