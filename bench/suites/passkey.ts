/**
 * Suite passkey: issue 20's passkey target, the eval passkey grid on the GPU (ckvlab-passkey-9m, 2K-8K x 5
 * depths x 4 keys, full, clusterkv, quest, streaming and oracle x budgets 32-512), one process per context
 * (`bench/run.ts once passkey`, passkeyOnce below), each into its own eval folder beside its run file. On webgpu
 * the WebGPU engine decodes every cell (8 documents of one length at a time); the run file holds the process's
 * wall time, the accuracies against the CPU study's tables (study/passkey-tables.md: the tfjs op path on wasm,
 * the same documents, f32 weights) and, with --reference (an eval folder of the same model and grid made on
 * another runtime), the answers document by document (src/model/passkey/study-compare.ts). The merge: the
 * grid's wall time (the sum of the contexts') against the target. The KV cache is f32 by default, as the CPU
 * path's; an F16 checkpoint's weights stay f16 (the one way such a checkpoint runs on the engine).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { useBackend } from '../../src/gpu/backend.js';
import { parseIntFlag, parseIntList, parseNameList } from '../../src/cli/parse.js';
import { parseDTypeFlag } from '../../src/cli/engine-flags.js';
import type { DTypeChoice } from '../../src/model/engine/engine-model.js';
import { readPasskeyEvalFolder } from '../../src/model/passkey/eval-folder.js';
import { CKVLAB_PASSKEY_FORMAT } from '../../src/model/passkey/format.js';
import { passkeyRunKind, type PasskeyRunFile } from '../../src/model/passkey/passkey-run-file.js';
import { runPasskeyEval } from '../../src/model/passkey/runner.js';
import { compareAnswers, compareWithStudy, studyAccuracies, type AnswerRow } from '../../src/model/passkey/study-compare.js';
import { nodeCommand, repoRoot, type BenchSize, type Suite } from '../suite.js';

/** Per size: the model, contexts, depths, keys, methods and budgets (full: issue 20's grid). */
export const PASSKEY_SIZES: Record<BenchSize, { model: string; tokenizer: string; contexts: string; depths: string; keys: number; methods: string; budgets: string }> = {
  full: { model: '../shared/models/ckvlab-passkey-9m/hf-f16', tokenizer: '../shared/models/stories260K/tok512.bin', contexts: '2048,4096,8192', depths: '0,0.25,0.5,0.75,1', keys: 4, methods: 'full,clusterkv,quest,streaming,oracle', budgets: '32,64,128,256,512' },
  small: { model: '../shared/models/ckvlab-passkey-9m/hf-f16', tokenizer: '../shared/models/stories260K/tok512.bin', contexts: '1024', depths: '0,0.5,1', keys: 1, methods: 'full,clusterkv,quest,streaming,oracle', budgets: '32,128' },
  tiny: { model: '../shared/models/ckvlab-passkey-9m/hf-f16', tokenizer: '../shared/models/stories260K/tok512.bin', contexts: '256', depths: '0,1', keys: 1, methods: 'full,clusterkv,quest,streaming,oracle', budgets: '32' },
};

export interface PasskeyRunOptions {
  backend: string;
  model: string;
  tokenizer: string;
  context: number;
  depths: number[];
  keys: number;
  methods: string[];
  budgets: number[];
  kv: DTypeChoice;
  /** the study's tables (markdown) */
  tables: string;
  /** an eval folder of the same model and documents to compare answers with */
  reference?: string;
  /** the run file; the eval folder is its name with -eval */
  out: string;
}

/** An eval's answer rows against the study's tables (file) and, with `reference` (an eval folder), its answers for the same contexts. */
export function passkeyComparison(rows: readonly AnswerRow[], tables: string, reference?: string): Pick<PasskeyRunFile, 'accuracies' | 'answers'> {
  const contexts = new Set(rows.map((r) => r.context));
  return {
    accuracies: compareWithStudy(rows, studyAccuracies(readFileSync(tables, 'utf8'))),
    answers: reference ? compareAnswers(rows, evalRows(reference).filter((r) => contexts.has(r.context))) : null,
  };
}

/** The answer rows of an eval folder. */
export function evalRows(folder: string): AnswerRow[] {
  return readPasskeyEvalFolder(folder).table.objects() as unknown as AnswerRow[];
}

/** One context of the grid (see the file comment). */
export async function passkeyOnce(o: PasskeyRunOptions, log: (line: string) => void): Promise<PasskeyRunFile> {
  const t0 = performance.now();
  const backend = await useBackend(o.backend);
  const folder = `${o.out.replace(/\.json$/, '')}-eval`;
  const request = { model: o.model, tokenizer: o.tokenizer, filler: 'moby-dick', format: CKVLAB_PASSKEY_FORMAT, contexts: [o.context], depths: o.depths, keys: o.keys, seed: 0, methods: o.methods, budgets: o.budgets };
  const result = await runPasskeyEval(request, folder, { backend, kv: o.kv, onDocument: log });
  const seconds = (performance.now() - t0) / 1000;
  const { accuracies, answers } = passkeyComparison(result.table.objects() as unknown as AnswerRow[], o.tables, o.reference);
  const judged = accuracies.filter((a) => a.equal !== null);
  log(`context ${o.context}: ${result.requested.documents.length} documents x ${result.requested.cells.length} cells in ${seconds.toFixed(1)} s (${result.manifest.runtime}); ${judged.filter((a) => a.equal).length} of ${judged.length} accuracies equal the study's${answers ? `; ${answers.sameAnswers} of ${answers.compared} answers equal ${o.reference}'s` : ''}`);
  return {
    kind: 'clusterkv-passkey-run',
    backend,
    runtime: result.manifest.runtime ?? backend,
    model: o.model,
    context: o.context,
    documents: result.requested.documents.length,
    cells: result.requested.cells.length,
    seconds,
    evalSeconds: result.manifest.seconds ?? seconds,
    folder: path.basename(folder),
    accuracies,
    answers,
  };
}

export const passkeySuite: Suite = {
  name: 'passkey',
  description: 'the eval passkey grid on the GPU, one process per context: wall time, accuracies against the CPU study (study/passkey-tables.md), answers against a reference eval folder',
  processes: 1,
  backend: 'webgpu',
  kind: passkeyRunKind,
  timeoutS: 240,
  options: [
    ['--model <dir|file>', 'the passkey model (default: ckvlab-passkey-9m hf-f16)'],
    ['--tokenizer <file>', 'its tokenizer (default: stories260K/tok512.bin)'],
    ['--contexts <list>', 'document lengths, one process each (default per size: full 2048,4096,8192, small 1024, tiny 256)'],
    ['--depths <list>', 'needle depths (default per size: full 0,0.25,0.5,0.75,1)'],
    ['--keys <n>', 'keys per (context, depth) (default per size: full 4)'],
    ['--methods <list>', 'methods (default: full,clusterkv,quest,streaming,oracle)'],
    ['--budgets <list>', 'budgets (default per size: full 32,64,128,256,512)'],
    ['--kv-dtype <auto|f32|f16>', "the engine's KV cache (f32: the CPU path's)", 'f32'],
    ['--tables <file.md>', "the CPU study's tables", 'study/passkey-tables.md'],
    ['--reference <dir>', 'an eval folder of the same model and grid on another runtime: answers compared per document and cell'],
  ],
  jobs: (run) => {
    const size = PASSKEY_SIZES[run.size];
    const o = run.options;
    const contexts = parseIntList('--contexts', String(o.contexts ?? size.contexts), 1);
    const common = ['--backend', run.backend, '--model', String(o.model ?? size.model), '--tokenizer', String(o.tokenizer ?? size.tokenizer), '--depths', String(o.depths ?? size.depths), '--keys', String(o.keys ?? size.keys), '--methods', String(o.methods ?? size.methods), '--budgets', String(o.budgets ?? size.budgets), '--kv-dtype', String(o.kvDtype), '--tables', path.resolve(repoRoot, String(o.tables)), ...(o.reference ? ['--reference', String(o.reference)] : [])];
    // the longest first: a run cut short by the deadline has the context the target is hardest for
    return [...contexts].sort((a, b) => b - a).map((c) => ({ name: `passkey-${c}`, argv: nodeCommand('driver', ['once', 'passkey', ...common, '--context', String(c), '--out', '{out}']) }));
  },
};

/** The once command's flags, parsed (bench/run.ts). */
export function passkeyOptionsFromFlags(f: Record<string, string>): PasskeyRunOptions {
  return {
    backend: f.backend,
    model: f.model,
    tokenizer: f.tokenizer,
    context: parseIntFlag('--context', f.context, 1),
    depths: f.depths.split(',').map((d) => {
      const x = Number(d);
      if (d.trim() === '' || !(x >= 0 && x <= 1)) throw new RangeError(`--depths takes numbers in [0, 1], got '${f.depths}'`);
      return x;
    }),
    keys: parseIntFlag('--keys', f.keys, 1),
    methods: parseNameList('--methods', f.methods),
    budgets: parseIntList('--budgets', f.budgets, 1),
    kv: parseDTypeFlag('--kv-dtype', f.kvDtype),
    tables: f.tables,
    reference: f.reference,
    out: f.out,
  };
}
