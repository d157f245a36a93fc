/**
 * The passkey eval: documents (contexts x depths x keys) x cells (methods x budgets x parameters, as a
 * sweep expands them) -> one row per document x cell, in a resumable folder (eval-folder.ts).
 *
 * Per document: build it in the model's format, prefill it ONCE with dense attention, then decode the answer
 * greedily with every pending cell from its own copy of the prefilled state (decode.ts); the first answer
 * token is the dense prefill's for every method. On webgpu the WebGPU engine does this for the cells it
 * can run (engine-decode.ts), up to 8 documents of one length at a time, one decode step per token for all
 * of them; the other cells take the tfjs op path, document by document. Cells of one document share each layer's memo, so ClusterKV's
 * K-means of the prompt runs once per (cluster count, scoring), not once per budget. A document's files are
 * rewritten after each cell, so an interruption loses at most the cell in progress; a re-run computes only
 * the missing (document, cell) pairs. The model, tokenizer, filler, format and seed are the folder's
 * identity: a run with another is refused.
 */
import path from 'node:path';
import type * as aq from 'arquero';
import { boundAttentionImplementation } from '../../gpu/bound-attention.js';
import { halfRead } from '../../gpu/wgsl/engine/storage-dtype.js';
import { clusterkvParams, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { createMethod } from '../../sim/methods/index.js';
import type { Method, ParamValue } from '../../sim/selector.js';
import { expandCells, type SweepCell } from '../../sim/sweep.js';
import { packageVersions } from '../../sim/versions.js';
import { ModelError } from '../errors.js';
import { hfCheckpointDir } from '../hf-loader.js';
import { engineModelFrom, loadEngineModel, resolveDType, type DTypeChoice, type EngineModel } from '../engine/engine-model.js';
import { loadModel, loadTokenizer } from '../load.js';
import { chooseRuntime } from '../runtime.js';
import { readText } from '../texts.js';
import type { TextTokenizer } from '../tokenizer.js';
import type { LlamaModel } from '../transformer.js';
import { pathSha256, textSha256 } from './checksums.js';
import { decodeAnswer, disposePrefill, prefillPrompt, type AnswerDecode } from './decode.js';
import { buildPasskeyDocument, type PasskeyDocument } from './document.js';
import { decodeAnswersOnEngine, disposeEngineBatch, ENGINE_BATCH, engineBatches, prefillEngineBatch, promptQueryLayersOf } from './engine-decode.js';
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
  /** the tfjs backend in use, recorded in the manifest (webgpu: the WebGPU engine decodes the cells it can) */
  backend: string;
  /** the engine's weights and KV cache dtypes (default auto) */
  weights?: DTypeChoice;
  kv?: DTypeChoice;
  /** an already loaded model for `request.model` (notebooks keep one); the caller disposes it */
  model?: LlamaModel;
  /** the engine's weights of `request.model`, already loaded (the CLI); the caller disposes them */
  engineModel?: EngineModel;
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

/** Which runtime decodes each cell: the engine where the backend and the method allow, else the tfjs op path. */
function cellRuntimes(cells: { cell: SweepCell; method: Method }[], backend: string): { engine: typeof cells; ops: typeof cells; reasons: string[] } {
  const engine: typeof cells = [];
  const ops: typeof cells = [];
  const reasons = new Set<string>();
  for (const c of cells) {
    const choice = chooseRuntime(backend, [c.method]);
    (choice.runtime === 'engine' ? engine : ops).push(c);
    if (choice.runtime === 'ops' && choice.reason !== 'tfjs ops') reasons.add(choice.reason.replace(/^tfjs ops: /, ''));
  }
  return { engine, ops, reasons: [...reasons] };
}

/** Whether the eval's cells need the engine's weights, the tfjs model, or both, on `backend`. */
export function passkeyRuntimes(request: PasskeyEvalRequest, backend: string): { engine: boolean; ops: boolean } {
  const split = cellRuntimes(buildCells(request), backend);
  return { engine: split.engine.length > 0, ops: split.ops.length > 0 };
}

export async function runPasskeyEval(request: PasskeyEvalRequest, outDir: string, options: PasskeyEvalOptions): Promise<PasskeyEvalResult> {
  const started = Date.now();
  const format = checkPasskeyFormat(request.format);
  if (request.budgets.length === 0) throw new RangeError('the eval needs at least one budget');
  const cells = buildCells(request);
  const filler = await readText(request.filler);
  const plan = planDocuments({ contexts: request.contexts, depths: request.depths, keys: request.keys, seed: request.seed }, filler.text.length, format.keyDigits);
  const split = cellRuntimes(cells, options.backend);
  const owned: { dispose(): void }[] = [];
  try {
    const model = split.ops.length ? (options.model ?? (await loadModel(request.model))) : undefined;
    if (model && !options.model) owned.push(model);
    let engineModel = split.engine.length ? options.engineModel : undefined;
    if (split.engine.length && !engineModel) {
      engineModel = options.model ? await engineModelFrom(options.model, { weights: options.weights }) : await loadEngineModel(request.model, { weights: options.weights });
      owned.push(engineModel);
    }
    const info = (model ?? engineModel)!;
    const tokenizer = options.tokenizer ?? (await loadTokenizer(request.tokenizer, info));
    const tokenizerPath = request.tokenizer ?? path.join(hfCheckpointDir(info.source.path), 'tokenizer.json');
    const identity = {
      model: { path: path.resolve(request.model), sha256: await pathSha256(request.model), name: info.source.name, format: info.source.format, config: { ...info.config } },
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
    const pending = (id: string, list: typeof cells) => list.filter((c) => !doneCells.get(id)!.has(c.cell.id));
    const kv = engineModel ? resolveDType(options.kv ?? 'auto', engineModel.stored) : undefined;
    const attentionKernel = engineModel && kv ? boundAttentionImplementation({ H: engineModel.shape.heads, G: engineModel.shape.kvHeads, d: engineModel.shape.headDim, kv, read: halfRead() }) : undefined;
    const runtime = [
      split.engine.length ? `WebGPU engine (${engineModel!.weights.dtype} weights, ${kv} KV, ${attentionKernel} attention; documents of one length decoded ${ENGINE_BATCH} at a time): ${[...new Set(split.engine.map((c) => c.method.name))].join(', ')}` : '',
      split.ops.length ? `tfjs ops on ${options.backend}: ${[...new Set(split.ops.map((c) => c.method.name))].join(', ')}${split.reasons.length && options.backend === 'webgpu' ? ` (${split.reasons.join('; ')})` : ''}` : '',
    ].filter(Boolean).join('; ');
    const manifest: PasskeyManifest = {
      kind: 'clusterkv-passkey-eval',
      ...identity,
      spec,
      decoding: PASSKEY_DECODING,
      backend: options.backend,
      runtime,
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
    const checkAbort = () => {
      if (options.signal?.aborted) throw new PasskeyEvalInterrupted(progress().done, total);
    };
    stage('starting');
    try {
      const todo = plan.filter((d) => pending(d.id, cells).length > 0);
      stage(`building ${todo.length} document${todo.length === 1 ? '' : 's'}`);
      const work = todo.map((d) => buildPasskeyDocument(tokenizer, filler.text, d, format));
      // with engine cells, documents of one length are prefilled and decoded together; else one at a time
      for (const batch of split.engine.length ? engineBatches(work) : work.map((d) => [d])) {
        checkAbort();
        const batchStart = performance.now();
        const ids = batch.length === 1 ? batch[0].id : `${batch.length} documents (${batch[0].id} .. ${batch[batch.length - 1].id})`;
        const files = new Map(batch.map((doc) => [doc.id, readDocumentRows(outDir, doc.id)]));
        for (const doc of batch) writeDocument(outDir, doc);
        /** records one document's answer under one cell, and writes its files */
        const record = (doc: PasskeyDocument, cell: SweepCell, method: Method, decoded: AnswerDecode) => {
          const { rows, steps } = files.get(doc.id)!;
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
          options.onProgress?.(progress().done, total, doc.id);
        };
        const cellName = (method: Method) => `${method.name}${Number.isFinite(method.budget) ? ` B=${method.budget}` : ''}`;
        const engineCells = split.engine.filter((c) => batch.some((doc) => pending(doc.id, [c]).length > 0));
        if (engineCells.length) {
          stage(`${ids}: engine prefill of ${batch[0].tokens.length} tokens`);
          const prefilled = await prefillEngineBatch(engineModel!, batch, kv!, promptQueryLayersOf(engineCells.map((c) => c.method), engineModel!.shape.layers));
          try {
            batch.forEach((doc, b) => (prefillSeconds[doc.id] = Number(prefilled.seconds[b].toFixed(3))));
            for (const { cell, method } of engineCells) {
              checkAbort();
              stage(`${ids}: ${cellName(method)} on the engine`);
              const answers = await decodeAnswersOnEngine(engineModel!, prefilled, method);
              batch.forEach((doc, b) => {
                if (pending(doc.id, [{ cell, method }]).length) record(doc, cell, method, answers[b]);
              });
            }
          } finally {
            await disposeEngineBatch(prefilled);
          }
        }
        for (const doc of batch) {
          const opsCells = pending(doc.id, split.ops);
          if (opsCells.length === 0) continue;
          stage(`${doc.id}: prefill of ${doc.tokens.length} tokens`);
          const prefill = await prefillPrompt(model!, doc.tokens, (l, L) => stage(`${doc.id}: prefill of ${doc.tokens.length} tokens, layer ${l}/${L} done`));
          prefillSeconds[doc.id] ??= Number(prefill.seconds.toFixed(3));
          try {
            for (const { cell, method } of opsCells) {
              checkAbort();
              stage(`${doc.id}: ${cellName(method)}`);
              record(doc, cell, method, await decodeAnswer(model!, prefill, method, doc.answer.length, doc.needlePositions, doc.keyPositions));
            }
          } finally {
            disposePrefill(prefill);
          }
        }
        writeEvalManifest(outDir, { ...manifest, progress: progress() });
        options.onDocument?.(`${ids}: ${batch[0].tokens.length} tokens, prefill ${batch.reduce((a, d) => a + (prefillSeconds[d.id] ?? 0), 0).toFixed(1)} s, done in ${((performance.now() - batchStart) / 1000).toFixed(1)} s`);
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
    for (const m of owned) m.dispose();
  }
}
