/**
 * What a passkey eval writes, declared once (as results-schema.ts declares a sweep's): the result row and
 * the manifest (zod). eval-folder.ts reads and writes the files with these; the CLI, plot, notebook and the
 * study read evals through it.
 *
 *   results.csv / results.arrow   one row per document x cell (method and parameters, budget): EVAL_COLUMNS,
 *                                 then the method's parameters alphabetically
 *   steps.csv                     one row per document x cell x answer step x sparse layer: STEP_COLUMNS
 *   manifest.json                 PasskeyManifest below
 */
import { z } from 'zod';
import { sweepCellSchema } from '../../sim/results-schema.js';
import { passkeyFormatSchema } from './format.js';
import { NEEDLE_METRICS } from './needle-recall.js';

export const PASSKEY_EVAL_KIND = 'clusterkv-passkey-eval';

/** Leading columns of results.csv, in order. */
export const EVAL_COLUMNS: readonly string[] = [
  'document', 'context', 'tokens', 'depth', 'keyIndex', 'key', 'method', 'budget', 'budgetMode', 'promptClusters',
  'correct', 'digitsCorrect', 'answerTokensCorrect', 'generated', 'expected', ...NEEDLE_METRICS, 'decodeSeconds', 'cell',
];

/** Columns of steps.csv, in order. */
export const STEP_COLUMNS: readonly string[] = ['document', 'cell', 'method', 'budget', 'step', 'layer', 'token', 'attended', ...NEEDLE_METRICS];

const intList = z.array(z.number().int());
const paramValue = z.union([z.number(), z.string(), z.boolean()]);

export const passkeyDocumentRecordSchema = z.object({
  id: z.string(),
  context: z.number().int(),
  depth: z.number(),
  keyIndex: z.number().int(),
  key: z.string(),
  fillerOffset: z.number().int(),
});

export const passkeySpecSchema = z.object({
  contexts: intList,
  depths: z.array(z.number()),
  keys: z.number().int().positive(),
  methods: z.array(z.string()),
  budgets: intList,
  clusters: intList.optional(),
  grid: z.record(z.string(), z.array(paramValue)).optional(),
});
export type PasskeySpec = z.infer<typeof passkeySpecSchema>;

export const PASSKEY_STATUSES = ['running', 'interrupted', 'failed', 'complete'] as const;

export const passkeyManifestSchema = z.object({
  kind: z.literal(PASSKEY_EVAL_KIND),
  /** the folder's identity: a run with another model, tokenizer, filler, format or seed is refused */
  model: z.object({ path: z.string(), sha256: z.string(), name: z.string(), format: z.string(), config: z.record(z.string(), z.unknown()) }),
  tokenizer: z.object({ path: z.string(), sha256: z.string() }),
  filler: z.object({ name: z.string(), path: z.string(), sha256: z.string(), chars: z.number().int() }),
  format: passkeyFormatSchema,
  /** seeds: documents (keys, filler offsets) and seeded methods (ClusterKV K-means, random) */
  seed: z.number().int().nonnegative(),
  /** the latest run's grid */
  spec: passkeySpecSchema,
  /** how answers are decoded (the same for every method) */
  decoding: z.string(),
  backend: z.string(),
  /** which runtime decoded which methods (the WebGPU engine, the tfjs op path) */
  runtime: z.string().optional(),
  versions: z.record(z.string(), z.string()),
  /** every document and cell any run of the folder asked for */
  documents: z.array(passkeyDocumentRecordSchema),
  cells: z.array(sweepCellSchema),
  status: z.enum(PASSKEY_STATUSES),
  /** (document, cell) pairs of the latest run: finished and asked for */
  progress: z.object({ done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  /** dense prefill seconds per document (the run that computed it) */
  prefillSeconds: z.record(z.string(), z.number()),
  error: z.string().optional(),
  started: z.string(),
  finished: z.string().optional(),
  /** wall seconds of the latest run */
  seconds: z.number().optional(),
});
export type PasskeyManifest = z.infer<typeof passkeyManifestSchema>;
export type PasskeyDocumentRecord = z.infer<typeof passkeyDocumentRecordSchema>;
