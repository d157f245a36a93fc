/**
 * `clusterkv eval passkey ...`: retrieval accuracy under a token budget. Documents in the model's passkey
 * format (contexts x depths x keys), each prefilled once densely and answered greedily by every method x
 * budget -> DIR/results.csv (one row per document x cell), results.arrow, steps.csv, manifest.json;
 * resumable; a summary of accuracy per method x budget (x context) on stdout.
 */
import * as aq from 'arquero';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { NEEDLE_METRIC_MEANING, NEEDLE_METRICS } from '../../model/passkey/needle-recall.js';
import { CKVLAB_PASSKEY_FORMAT, checkPasskeyFormat, readPasskeyFormat, type PasskeyFormat } from '../../model/passkey/format.js';
import { PasskeyEvalInterrupted, passkeyRuntimes, runPasskeyEval, type PasskeyEvalRequest, type PasskeyEvalResult } from '../../model/passkey/runner.js';
import { accuracySummary, denseAccuracy, denseMisses } from '../../model/passkey/summary.js';
import { engineDTypeOptions, engineDTypes, type EngineDTypeFlags } from '../engine-flags.js';
import { checkOutputFolder, UserError } from '../errors.js';
import { withInterrupt } from '../interrupt.js';
import { backendOption } from '../options.js';
import { checkFitsMemory, loadEngineModelOption, loadModelOption, loadTokenizerOption, pastContextWarning } from '../model-input.js';
import { collect, parseGridFlags, parseIntFlag, parseIntList, parseNameList } from '../parse.js';
import { progressBar } from '../progress.js';
import { count, formatTable } from '../table.js';
import { denseBudgetsWarning, HeldWarnings } from '../warn.js';

export interface PasskeyFlags extends EngineDTypeFlags {
  model: string;
  tokenizer?: string;
  contexts: string;
  depths: string;
  keys: string;
  seed: string;
  filler: string;
  format?: string;
  intro?: string;
  needle?: string;
  question?: string;
  answer?: string;
  methods: string;
  budgets: string;
  clusters?: string;
  param: string[];
  out: string;
  backend?: string;
  json?: boolean;
  quiet?: boolean;
}

function parseNumberList(flag: string, value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UserError(`${flag} needs at least one value`);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n)) throw new UserError(`${flag} must be numbers, got '${p}'`);
    return n;
  });
}

/** The document format: the model's default, a JSON file over it, then single fields from flags. */
export function formatFromFlags(flags: Pick<PasskeyFlags, 'format' | 'intro' | 'needle' | 'question' | 'answer'>): PasskeyFormat {
  const base = flags.format ? readPasskeyFormat(flags.format) : CKVLAB_PASSKEY_FORMAT;
  const unescape = (s: string | undefined) => (s === undefined ? undefined : s.replace(/\\n/g, '\n'));
  return checkPasskeyFormat({
    ...base,
    intro: unescape(flags.intro) ?? base.intro,
    needle: unescape(flags.needle) ?? base.needle,
    question: unescape(flags.question) ?? base.question,
    answer: unescape(flags.answer) ?? base.answer,
  }, 'passkey format (--format, --intro, --needle, --question, --answer)');
}

export function passkeyRequestFromFlags(flags: PasskeyFlags): PasskeyEvalRequest {
  return {
    model: flags.model,
    tokenizer: flags.tokenizer,
    filler: flags.filler,
    format: formatFromFlags(flags),
    contexts: parseIntList('--contexts', flags.contexts, 1),
    depths: parseNumberList('--depths', flags.depths),
    keys: parseIntFlag('--keys', flags.keys, 1),
    seed: parseIntFlag('--seed', flags.seed, 0),
    methods: parseNameList('--methods', flags.methods),
    budgets: parseIntList('--budgets', flags.budgets, 1),
    clusters: flags.clusters ? parseIntList('--clusters', flags.clusters, 1) : undefined,
    grid: parseGridFlags(flags.param),
  };
}

/**
 * The summary: accuracy per method x budget (x context), dense misses named, over this run's grid (its
 * documents x cells), so that every method is averaged over the same documents; a folder that also holds
 * earlier runs' documents or cells says so (results.csv has them all).
 */
export function printPasskeySummary(result: PasskeyEvalResult, backend: string, out: string, json: boolean): void {
  const documents = new Set(result.requested.documents);
  const cellRank = new Map(result.requested.cells.map((c, i) => [c, i]));
  const cells = new Set(cellRank.keys());
  // this run's rows, its methods in the order given
  const table = result.table
    .filter(aq.escape((d: { document: string; cell: string }) => documents.has(d.document) && cells.has(d.cell)))
    .derive({ cellRank: aq.escape((d: { cell: string }) => cellRank.get(d.cell)) })
    .orderby('cellRank');
  const summary = accuracySummary(table);
  const misses = denseMisses(table);
  const dense = denseAccuracy(table);
  const folderDocuments = new Set(result.table.array('document') as string[]).size;
  const folderCells = new Set(result.table.array('cell') as string[]).size;
  const earlier = folderDocuments > documents.size || folderCells > cells.size
    ? `the folder also holds earlier runs' rows (${count(folderDocuments, 'document')} x ${count(folderCells, 'cell')} in all, results.csv has them); the table is this run's ${count(documents.size, 'document')} x ${count(cells.size, 'cell')}`
    : undefined;
  if (json) {
    console.log(JSON.stringify({ folder: out, backend, runtime: result.manifest.runtime ?? null, seconds: result.seconds, computed: result.computed, skipped: result.skipped, documents: documents.size, cells: cells.size, denseAccuracy: dense ?? null, denseMisses: misses, summary: summary.rows, ...(earlier ? { note: earlier } : {}) }, null, 2));
    return;
  }
  console.log(formatTable(summary.rows, summary.columns));
  const docs = new Set(table.filter(aq.escape((d: { method: string }) => d.method === 'full')).array('document') as string[]).size;
  console.log(
    `\naccuracy: the greedy answer's tokens equal the expected continuation's; digits: key digits right (of ${result.manifest.format.keyDigits}); needle/key mass recall: share of the dense attention on the needle / key digits the selection kept (sparse layers, answer steps, pooled over heads)` +
      `\nthe first answer token comes from the dense prefill for every method; the rest through each method` +
      `\n${sameKeys(result)}` +
      (dense === undefined ? '' : `\ndense (full) accuracy ${dense.toFixed(3)} over ${count(docs, 'document')}${misses.length ? `; misses: ${misses.map((m) => `${m.document} (key ${m.key}, said ${JSON.stringify(m.generated)})`).join(', ')}` : ''}`) +
      `\n${count(result.computed, 'document-cell')} computed, ${result.skipped} already done, on ${backend}${result.manifest.runtime ? ` (${result.manifest.runtime})` : ''} in ${result.seconds.toFixed(1)} s -> ${out}/results.csv` +
      (earlier ? `\n${earlier}` : ''),
  );
}

/** What the documents share (plan.ts): key index i has one key and one passage at every context and depth. */
function sameKeys(result: PasskeyEvalResult): string {
  const { spec, seed } = result.manifest;
  return `keys: ${count(spec.keys, 'key')} (seed ${seed}), each the same key in the same passage at every context and depth: contexts and depths differ only in the passage's length and where the needle sits`;
}

function needleHelp(): string {
  return `\nNeedle recall (results.csv and steps.csv columns, sparse layers, per answer step):\n${NEEDLE_METRICS.map((m) => `  ${m.padEnd(18)} ${NEEDLE_METRIC_MEANING[m]}`).join('\n')}\n`;
}

export function register(program: Command): void {
  const evalCommand = program.command('eval').description('downstream accuracy of methods under a token budget on a real model (passkey retrieval)');
  const passkey = evalCommand
    .command('passkey')
    .description('passkey retrieval: documents with a key hidden in filler text, prefilled once densely, answered by each method x budget; DIR/results.csv, results.arrow, steps.csv, manifest.json')
    .requiredOption('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face folder (e.g. ../shared/models/ckvlab-passkey-9m/model.bin)')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or tokenizer.json (default: the HF folder\'s)')
    .requiredOption('--out <dir>', 'results folder (re-running into it computes only what is missing)')
    .option('--contexts <list>', 'document lengths in tokens', '2048,4096,8192')
    .option('--depths <list>', 'needle depths in [0, 1] (share of the filler before the needle)', '0,0.25,0.5,0.75,1')
    .option('--keys <n>', 'keys (documents) per context and depth; key i is the same key in the same passage at every context and depth', '4')
    .option('--seed <n>', 'seed of the keys, the filler offsets and seeded methods (recorded)', '0')
    .option('--filler <text>', 'filler text: moby-dick or a file', 'moby-dick')
    .option('--format <file>', "document format JSON (intro, needle, question, answer with the placeholder KEY; a model's train.json works); default: ckvlab-passkey-9m's")
    .option('--intro <text>', 'format override: intro (\\n for a newline)')
    .option('--needle <text>', 'format override: needle, with KEY')
    .option('--question <text>', 'format override: question')
    .option('--answer <text>', 'format override: answer, with KEY')
    .option('--methods <list>', 'methods, comma-separated, or all', 'full,clusterkv,quest,streaming')
    .option('--budgets <list>', 'token budgets B, comma-separated', '32,64,128,256,512')
    .option('--clusters <list>', 'ClusterKV prompt cluster counts C0 (default: ceil(L / tokensPerCluster))')
    .option('--param <name=v1,v2>', 'sweep any other method parameter (repeatable), e.g. --param scoring=centroid,bound --param tokensPerCluster=80,40,20', collect, [])
    .addOption(backendOption())
    .option('--json', 'print the summary as JSON')
    .option('--quiet', 'print no summary')
    .addHelpText('after', needleHelp());
  engineDTypeOptions(passkey)
    .action(async (flags: PasskeyFlags) => {
      const request = passkeyRequestFromFlags(flags);
      const dtypes = engineDTypes(flags);
      checkOutputFolder(flags.out);
      const warnings = new HeldWarnings();
      warnings.hold(denseBudgetsWarning('--budgets', request.budgets, Math.min(...request.contexts), `tokens of the shortest document (--contexts ${Math.min(...request.contexts)})`));
      const backend = await useBackend(flags.backend);
      // the engine's weights for the cells it decodes, the tfjs model for the others (runner.ts says which)
      const runtimes = passkeyRuntimes(request, backend);
      const model = runtimes.ops ? await loadModelOption(flags.model) : undefined;
      try {
        const engineModel = runtimes.engine ? await loadEngineModelOption(flags.model, { weights: dtypes.weights }) : undefined;
        try {
          const info = (model ?? engineModel)!;
          const tokenizer = await loadTokenizerOption(flags.tokenizer, info);
          const longest = Math.max(...request.contexts);
          if (model) checkFitsMemory(model, longest, `the longest document (--contexts ${longest})`);
          warnings.hold(pastContextWarning(info, longest, `the longest document (--contexts ${longest})`));
          const bar = progressBar('passkey', 'document-cells');
          const log = process.stderr.isTTY ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
          try {
            const result = await withInterrupt('cell', (err) => err instanceof PasskeyEvalInterrupted, (signal) => runPasskeyEval(request, flags.out, { backend, ...dtypes, model, engineModel, tokenizer, signal, onProgress: (d, t, stage) => {
              warnings.flush();
              bar.update(d, t, stage);
            }, onDocument: log }));
            bar.stop();
            if (!flags.quiet) printPasskeySummary(result, backend, flags.out, flags.json === true);
          } finally {
            bar.stop();
          }
        } finally {
          engineModel?.dispose();
        }
      } finally {
        model?.dispose();
      }
    });
}
