/**
 * The passkey eval: documents (contexts x depths x keys) x cells (methods x budgets x parameters, as a
 * sweep expands them) -> one row per document x cell, in a resumable folder (eval-folder.ts).
 *
 * Per document: build it in the model's format, prefill it ONCE with dense attention, then decode the answer
 * greedily with every pending cell from its own copy of the prefilled state (decode.ts); the first answer
 * token is the dense prefill's for every method. Cells of one document share each layer's memo, so ClusterKV's
 * K-means of the prompt runs once per (cluster count, scoring), not once per budget. A document's files are
 * rewritten after each cell, so an interruption loses at most the cell in progress; a re-run computes only
 * the missing (document, cell) pairs. The model, tokenizer, filler, format and seed are the folder's
 * identity: a run with another is refused.
 */
import path from 'node:path';
import type * as aq from 'arquero';
import { clusterkvParams, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { createMethod } from '../../sim/methods/index.js';
import type { Method, ParamValue } from '../../sim/selector.js';
import { expandCells, type SweepCell } from '../../sim/sweep.js';
import { packageVersions } from '../../sim/versions.js';
import { ModelError } from '../errors.js';
import { hfCheckpointDir } from '../hf-loader.js';
import { loadModel, loadTokenizer } from '../load.js';
import { readText } from '../texts.js';
import type { TextTokenizer } from '../tokenizer.js';
import type { LlamaModel } from '../transformer.js';
import { pathSha256, textSha256 } from './checksums.js';
import { decodeAnswer, disposePrefill, prefillPrompt, type AnswerDecode } from './decode.js';
import { buildPasskeyDocument, type PasskeyDocument } from './document.js';
import { readDocumentRows, readEvalManifest, writeDocument, writeDocumentRows, writeEvalManifest, writeEvalResults } from './eval-folder.js';
import type { PasskeyDocumentRecord, PasskeyManifest, PasskeySpec } from './eval-schema.js';
import { checkPasskeyFormat, type PasskeyFormat } from './format.js';
import { aggregateNeedleRecall } from './needle-recall.js';
import { planDocuments } from './plan.js';

/** How every answer is decoded (recorded in the manifest). */
export const PASSKEY_DECODING =
  'one dense prefill per document; the first answer token from its logits for every method (ClusterKV and Quest prefill densely too); ' +
  'the other answer tokens greedy (argmax) through each method from its own copy of the prefilled keys and values';

export interface PasskeyEvalRequest {
  /** llama2.c .bin or Hugging Face folder */
  model: string;
  /** tokenizer file (a llama2.c model needs one) */
  tokenizer?: string;
  /** filler text: a file or a named text (moby-dick) */
  filler: string;
  format: PasskeyFormat;
  contexts: number[];
  depths: number[];
  keys: number;
  /** documents (keys, filler offsets) and seeded methods */
  seed: number;
  methods: string[];
  budgets: number[];
  clusters?: number[];
  /** other method parameters to sweep */
  grid?: Record<string, ParamValue[]>;
}

export interface PasskeyEvalOptions {
  /** the tfjs backend in use, recorded in the manifest */
  backend: string;
  /** an already loaded model for `request.model` (notebooks keep one); the caller disposes it */
  model?: LlamaModel;
  tokenizer?: TextTokenizer;
  /**
   * done and total (document, cell) pairs of this run, and what runs now (`stage`: a document being built,
   * its prefill layer by layer, a cell decoding): at the start and at every stage, so a long document shows
   * progress before its first cell ends
   */
  onProgress?: (done: number, total: number, stage?: string) => void;
  /** after each document: what happened (for logs) */
  onDocument?: (line: string) => void;
  /** aborting stops after the current cell; the manifest records 'interrupted' */
  signal?: AbortSignal;
}

export interface PasskeyEvalResult {
  dir: string;
  manifest: PasskeyManifest;
  /** every finished row of the folder (earlier runs' documents and cells included) */
  table: aq.ColumnTable;
  /** this run's grid: its documents and cells (every pair is in table); summaries compare methods over these */
  requested: { documents: string[]; cells: string[] };
  /** (document, cell) pairs computed now and already on disk */
  computed: number;
  skipped: number;
  seconds: number;
}

/** An eval stopped on request; the folder's manifest says 'interrupted'. */
export class PasskeyEvalInterrupted extends Error {
  constructor(readonly done: number, readonly total: number) {
    super(`passkey eval interrupted: ${done} of ${total} document-cells done; re-run the same command to finish`);
    this.name = 'PasskeyEvalInterrupted';
  }
}

/** Digits of `generated` that equal the key's at the same place (the first keyDigits digits generated). */
export function digitsCorrect(generated: string, key: string): number {
  const digits = generated.replace(/\D/g, '').slice(0, key.length);
  let n = 0;
  for (let i = 0; i < digits.length; i++) if (digits[i] === key[i]) n++;
  return n;
}

/** ClusterKV's prompt cluster count C0 of the document (its parameter clusters stays as given: 0 derives C0 from tokensPerCluster). */
function promptClusters(method: Method, stats: Record<string, number> | undefined): number | null {
  if (typeof stats?.promptClusters === 'number') return stats.promptClusters;
  const c = method.name === 'clusterkv' ? clusterkvParams(method).clusters : 0;
  return c > 0 ? c : null;
}

/** The result row of one document under one cell. */
export function evalRow(doc: PasskeyDocument, cell: SweepCell, method: Method, decoded: AnswerDecode, generated: string, means: Record<string, number | null>): Record<string, unknown> {
  const budgeted = Number.isFinite(method.budget);
  const correctTokens = doc.answer.filter((id, i) => decoded.ids[i] === id).length;
  return {
    document: doc.id,
    context: doc.context,
    tokens: doc.tokens.length,
    depth: doc.depth,
    keyIndex: doc.keyIndex,
    key: doc.key,
    method: method.name,
    ...method.params,
    promptClusters: promptClusters(method, decoded.stats),
    budget: budgeted ? method.budget : null,
    budgetMode: budgeted ? method.budgetMode : null,
    correct: correctTokens === doc.answer.length && decoded.ids.length === doc.answer.length ? 1 : 0,
    digitsCorrect: digitsCorrect(generated, doc.key),
    answerTokensCorrect: correctTokens,
    generated,
    expected: doc.answerText,
    ...means,
    decodeSeconds: Number(decoded.seconds.toFixed(3)),
    cell: cell.id,
  };
}

function sameFormat(a: PasskeyFormat, b: PasskeyFormat): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

/** Refuses a folder made with another model, tokenizer, filler, format or seed. */
function checkIdentity(dir: string, previous: PasskeyManifest, now: Pick<PasskeyManifest, 'model' | 'tokenizer' | 'filler' | 'format' | 'seed'>): void {
  const other = (what: string, was: string) => new ModelError(`${dir} holds a passkey eval of another ${what} (${was}); choose another --out`);
  if (previous.model.sha256 !== now.model.sha256) throw other('model', `${previous.model.path}, sha256 ${previous.model.sha256.slice(0, 12)}`);
  if (previous.tokenizer.sha256 !== now.tokenizer.sha256) throw other('tokenizer', `${previous.tokenizer.path}, sha256 ${previous.tokenizer.sha256.slice(0, 12)}`);
  if (previous.filler.sha256 !== now.filler.sha256) throw other('filler', `${previous.filler.name}, sha256 ${previous.filler.sha256.slice(0, 12)}`);
  if (!sameFormat(previous.format, now.format)) throw other('document format', 'see its manifest.json');
  if (previous.seed !== now.seed) throw other('seed', `--seed ${previous.seed}`);
}

/** Cells, each with its Method, built up front so a bad parameter fails before anything is written. */
function buildCells(request: PasskeyEvalRequest): { cell: SweepCell; method: Method }[] {
  const cells = expandCells({ methods: request.methods, budgets: request.budgets, clusters: request.clusters, grid: request.grid, seed: request.seed });
  const shortest = Math.min(...request.contexts);
  return cells.map((cell) => {
    const method = createMethod(cell.method, cell.params);
    // ClusterKV's C0 must fit the prompt of the shortest context (its plan throws otherwise)
    if (method.name === 'clusterkv') promptClustering(clusterkvParams(method), shortest);
    return { cell, method };
  });
}

function unionById<T extends { id: string }>(earlier: readonly T[], now: readonly T[]): T[] {
  const out = [...earlier];
  const seen = new Set(out.map((x) => x.id));
  for (const x of now) if (!seen.has(x.id)) out.push(x);
  return out;
}

export async function runPasskeyEval(request: PasskeyEvalRequest, outDir: string, options: PasskeyEvalOptions): Promise<PasskeyEvalResult> {
  const started = Date.now();
  const format = checkPasskeyFormat(request.format);
  if (request.budgets.length === 0) throw new RangeError('the eval needs at least one budget');
  const cells = buildCells(request);
  const filler = await readText(request.filler);
  const plan = planDocuments({ contexts: request.contexts, depths: request.depths, keys: request.keys, seed: request.seed }, filler.text.length, format.keyDigits);
  const model = options.model ?? (await loadModel(request.model));
  try {
    const tokenizer = options.tokenizer ?? (await loadTokenizer(request.tokenizer, model));
    const tokenizerPath = request.tokenizer ?? path.join(hfCheckpointDir(model.source.path), 'tokenizer.json');
    const identity = {
      model: { path: path.resolve(request.model), sha256: await pathSha256(request.model), name: model.source.name, format: model.source.format, config: { ...model.config } },
      tokenizer: { path: path.resolve(tokenizerPath), sha256: await pathSha256(tokenizerPath) },
      filler: { name: request.filler, path: path.resolve(filler.path), sha256: textSha256(filler.text), chars: filler.text.length },
      format,
      seed: request.seed,
    };
    const previous = readEvalManifest(outDir);
    if (previous) checkIdentity(outDir, previous, identity);
    const documents: PasskeyDocumentRecord[] = unionById(previous?.documents ?? [], plan);
    const folderCells = unionById(previous?.cells ?? [], cells.map((c) => c.cell));
    const spec: PasskeySpec = { contexts: request.contexts, depths: request.depths, keys: request.keys, methods: request.methods, budgets: request.budgets, clusters: request.clusters, grid: request.grid };
    const prefillSeconds: Record<string, number> = { ...(previous?.prefillSeconds ?? {}) };
    const doneCells = new Map(plan.map((d) => [d.id, new Set(readDocumentRows(outDir, d.id).rows.map((r) => String(r.cell)))]));
    const total = plan.length * cells.length;
    const progress = () => {
      let done = 0;
      for (const d of plan) for (const c of cells) if (doneCells.get(d.id)!.has(c.cell.id)) done++;
      return { done, total };
    };
    const manifest: PasskeyManifest = {
      kind: 'clusterkv-passkey-eval',
      ...identity,
      spec,
      decoding: PASSKEY_DECODING,
      backend: options.backend,
      versions: packageVersions(),
      documents,
      cells: folderCells,
      status: 'running',
      progress: progress(),
      prefillSeconds,
      started: new Date(started).toISOString(),
    };
    writeEvalManifest(outDir, manifest);
    const skipped = progress().done;
    let computed = 0;
    const stage = (what: string) => options.onProgress?.(progress().done, total, what);
    stage('starting');
    try {
      for (const spec of plan) {
        const pending = cells.filter((c) => !doneCells.get(spec.id)!.has(c.cell.id));
        if (pending.length === 0) continue;
        if (options.signal?.aborted) throw new PasskeyEvalInterrupted(progress().done, total);
        stage(`${spec.id}: building the document`);
        const doc = buildPasskeyDocument(tokenizer, filler.text, spec, format);
        writeDocument(outDir, doc);
        stage(`${doc.id}: prefill of ${doc.tokens.length} tokens`);
        const prefill = await prefillPrompt(model, doc.tokens, (l, L) => stage(`${doc.id}: prefill of ${doc.tokens.length} tokens, layer ${l}/${L} done`));
        prefillSeconds[doc.id] = Number(prefill.seconds.toFixed(3));
        const docStart = performance.now();
        try {
          const { rows, steps } = readDocumentRows(outDir, doc.id);
          for (const { cell, method } of pending) {
            if (options.signal?.aborted) throw new PasskeyEvalInterrupted(progress().done, total);
            stage(`${doc.id}: ${method.name}${Number.isFinite(method.budget) ? ` B=${method.budget}` : ''}`);
            const decoded = await decodeAnswer(model, prefill, method, doc.answer.length, doc.needlePositions, doc.keyPositions);
            const decodeNext = tokenizer.streamDecoder(doc.tokens[doc.tokens.length - 1]);
            const generated = decoded.ids.map(decodeNext).join('');
            rows.push(evalRow(doc, cell, method, decoded, generated, aggregateNeedleRecall(decoded.records)));
            const budget = Number.isFinite(method.budget) ? method.budget : null;
            for (const r of decoded.records) {
              const { needleKept: _n, keyKept: _k, ...shown } = r;
              steps.push({ document: doc.id, cell: cell.id, method: method.name, budget, token: decoded.ids[r.step], ...shown });
            }
            writeDocumentRows(outDir, doc.id, rows, steps);
            doneCells.get(doc.id)!.add(cell.id);
            computed++;
            options.onProgress?.(progress().done, total, `${doc.id}`);
          }
        } finally {
          disposePrefill(prefill);
        }
        writeEvalManifest(outDir, { ...manifest, progress: progress() });
        options.onDocument?.(`${doc.id}: ${doc.tokens.length} tokens, key ${doc.key}, prefill ${prefill.seconds.toFixed(1)} s, ${pending.length} cells in ${((performance.now() - docStart) / 1000).toFixed(1)} s`);
      }
    } catch (err) {
      const interrupted = err instanceof PasskeyEvalInterrupted;
      writeEvalManifest(outDir, { ...manifest, status: interrupted ? 'interrupted' : 'failed', progress: progress(), error: interrupted ? undefined : (err as Error).message });
      throw err;
    }
    const allRows: Record<string, unknown>[] = [];
    const allSteps: Record<string, unknown>[] = [];
    for (const d of documents) {
      const { rows, steps } = readDocumentRows(outDir, d.id);
      allRows.push(...rows);
      allSteps.push(...steps);
    }
    const table = writeEvalResults(outDir, allRows, allSteps);
    const seconds = (Date.now() - started) / 1000;
    const finished: PasskeyManifest = { ...manifest, status: 'complete', progress: progress(), finished: new Date().toISOString(), seconds: Number(seconds.toFixed(1)) };
    writeEvalManifest(outDir, finished);
    return { dir: outDir, manifest: finished, table, requested: { documents: plan.map((d) => d.id), cells: cells.map((c) => c.cell.id) }, computed, skipped, seconds };
  } finally {
    if (!options.model) model.dispose();
  }
}
