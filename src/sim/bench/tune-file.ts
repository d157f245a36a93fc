/**
 * The files of the tuning suite (bench/suites/tune.ts) and their merges over fresh processes:
 *   kernel tuning  the WGSL kernels' knobs, one row per (kernel, context, knob, value) with its median kernel ms;
 *                  merged: the median over processes of each row's ms, each process's value kept
 *   GEMV tuning    the end-to-end engine's GEMV work splits per (batch, matrix shape, split), with the read
 *                  ceiling of the same process; merged: the median over processes of each median, GB/s and the
 *                  share of the ceiling from the medians
 */
import { z } from 'zod';
import { overProcesses, overProcessesSchema, RunFileError, spreadText, type RunKind } from './merge-runs.js';

const tuneRowSchema = z.looseObject({
  kernel: z.string(),
  knob: z.string(),
  /** the knob's value (a variant's name for the attention set; the figure itself for hostEncodeMs) */
  value: z.union([z.string(), z.number()]),
  context: z.number().int().optional(),
  clusters: z.number().int().optional(),
  /** median kernel ms (wall ms where the adapter has no timestamps) */
  ms: z.number().optional(),
  wallMs: z.number().optional(),
  GBps: z.number().optional(),
  kernelTimed: z.boolean().optional(),
});
export type TuneRow = z.infer<typeof tuneRowSchema>;

export const tuneFileSchema = z.looseObject({
  kind: z.literal('clusterkv-kernel-tuning'),
  /** 'attention' (decode attention's variants at 8K, 32K, 128K), 'core' (the defaults only); absent: every knob */
  set: z.string().optional(),
  heatMs: z.number(),
  toggles: z.string(),
  rows: z.array(tuneRowSchema),
});
export type TuneFile = z.infer<typeof tuneFileSchema>;

export const tuneMergedSchema = z.looseObject({
  kind: z.literal('clusterkv-kernel-tuning-merged'),
  set: z.string(),
  heatMs: z.number(),
  processes: z.number().int(),
  rows: z.array(z.object({ kernel: z.string(), context: z.number().int().nullable(), knob: z.string().optional(), variant: z.string(), median: z.number(), processes: z.array(z.number()) })),
});
export type TuneMerged = z.infer<typeof tuneMergedSchema>;

/** The figure of a tuning row: its kernel ms, or the value itself where the row is a measurement (hostEncodeMs). */
const figureOf = (row: TuneRow): number | undefined => row.ms ?? (typeof row.value === 'number' && row.knob === 'hostEncodeMs' ? row.value : undefined);

export const tuneKind: RunKind<TuneFile, TuneMerged> = {
  kind: 'clusterkv-kernel-tuning',
  title: 'kernel tuning run (suite tune)',
  runSchema: tuneFileSchema,
  mergedKind: 'clusterkv-kernel-tuning-merged',
  mergedSchema: tuneMergedSchema,
  merge(runs, files) {
    const set = runs[0].set ?? 'all';
    const odd = runs.findIndex((r) => (r.set ?? 'all') !== set || r.heatMs !== runs[0].heatMs);
    if (odd > 0) throw new RunFileError(`${files[odd]}: tuning set '${runs[odd].set ?? 'all'}' heated ${runs[odd].heatMs} ms, unlike ${files[0]} (set '${set}', ${runs[0].heatMs} ms)`);
    const groups = new Map<string, { row: TuneRow; values: number[] }>();
    for (const run of runs) {
      for (const row of run.rows) {
        const figure = figureOf(row);
        if (figure === undefined) continue;
        const key = JSON.stringify([row.kernel, row.context ?? null, row.knob, row.knob === 'hostEncodeMs' ? '' : row.value]);
        const g = groups.get(key) ?? { row, values: [] };
        g.values.push(figure);
        groups.set(key, g);
      }
    }
    const rows = [...groups.values()].map(({ row, values }) => ({ kernel: row.kernel, context: row.context ?? null, knob: row.knob, variant: row.knob === 'hostEncodeMs' ? 'host ms per step' : String(row.value), ...overProcesses(values) }));
    return { kind: 'clusterkv-kernel-tuning-merged', set, heatMs: runs[0].heatMs, processes: runs.length, rows };
  },
  summary(merged) {
    const contexts = [...new Set(merged.rows.map((r) => r.context))].sort((a, b) => (a ?? 0) - (b ?? 0));
    const lines = [`| kernel | variant | ${contexts.map((c) => (c === null ? '–' : `${c / 1024}K`)).join(' | ')} |`, `|---|---|${contexts.map(() => '---|').join('')}`];
    for (const kernel of [...new Set(merged.rows.map((r) => r.kernel))]) {
      for (const variant of [...new Set(merged.rows.filter((r) => r.kernel === kernel).map((r) => r.variant))]) {
        const cells = contexts.map((c) => {
          const r = merged.rows.find((x) => x.kernel === kernel && x.variant === variant && x.context === c);
          return r ? `${r.median.toFixed(4)} (${spreadText(r.processes, 4)})` : '–';
        });
        lines.push(`| ${kernel} | ${variant} | ${cells.join(' | ')} |`);
      }
    }
    return lines.join('\n');
  },
};

/** The GEMV tune's model shape when a run names none: the e2e suite's Llama-3-8B shape (32000-token head), f32 weights. */
export const DEFAULT_GEMV_MODEL = 'llama-3-8b-e2e';

// perStep: the product's runs per decode step (absent in runs before the tune took model shapes: 32 layers, 1 output head)
const gemvRowSchema = z.looseObject({ batch: z.number().int(), shape: z.string(), split: z.string(), asked: z.string(), medianUs: z.number(), GBps: z.number(), ofCeiling: z.number(), perStep: z.number().int().positive().optional() });

export const gemvTuningFileSchema = z.looseObject({
  kind: z.literal('clusterkv-e2e-gemv-tuning'),
  adapter: z.record(z.string(), z.unknown()).nullable(),
  toggles: z.string(),
  /** the model shape and weight storage timed (absent before the tune took them: the Llama-3-8B e2e shape, f32) */
  model: z.string().optional(),
  weights: z.enum(['f32', 'f16']).optional(),
  readCeilingGBps: z.number(),
  rows: z.array(gemvRowSchema),
});
export type GemvTuningFile = z.infer<typeof gemvTuningFileSchema>;

export const gemvTuningMergedSchema = z.looseObject({
  kind: z.literal('clusterkv-e2e-gemv-tuning-merged'),
  adapter: z.record(z.string(), z.unknown()).nullable(),
  processes: z.number().int(),
  model: z.string().optional(),
  weights: z.enum(['f32', 'f16']).optional(),
  readCeilingGBps: overProcessesSchema,
  rows: z.array(z.object({ batch: z.number().int(), shape: z.string(), split: z.string(), asked: z.string(), bytes: z.number(), medianUs: overProcessesSchema, GBps: z.number(), ofCeiling: z.number(), perStep: z.number().int().positive().optional() })),
});
export type GemvTuningMerged = z.infer<typeof gemvTuningMergedSchema>;

export const gemvTuningKind: RunKind<GemvTuningFile, GemvTuningMerged> = {
  kind: 'clusterkv-e2e-gemv-tuning',
  title: 'GEMV split tuning run (suite tune, set gemv)',
  runSchema: gemvTuningFileSchema,
  mergedKind: 'clusterkv-e2e-gemv-tuning-merged',
  mergedSchema: gemvTuningMergedSchema,
  merge(runs) {
    const ceiling = overProcesses(runs.map((r) => r.readCeilingGBps));
    const groups = new Map<string, { row: z.infer<typeof gemvRowSchema>; us: number[] }>();
    for (const row of runs.flatMap((r) => r.rows)) {
      const key = `${row.batch}|${row.shape}|${row.asked}`;
      const g = groups.get(key) ?? { row, us: [] };
      g.us.push(row.medianUs);
      groups.set(key, g);
    }
    const rows = [...groups.values()].map(({ row, us }) => {
      const bytes = row.GBps * row.medianUs * 1e3;
      const medianUs = overProcesses(us);
      const GBps = bytes / medianUs.median / 1e3;
      return { batch: row.batch, shape: row.shape, split: row.split, asked: row.asked, bytes, medianUs, GBps, ofCeiling: GBps / ceiling.median, ...(row.perStep ? { perStep: row.perStep } : {}) };
    });
    // a run without the fields is of the default shape in f32 (runs before the tune took them)
    const timed = (r: GemvTuningFile) => `${r.model ?? DEFAULT_GEMV_MODEL} ${r.weights ?? 'f32'}`;
    const [model, weights] = [runs[0].model, runs[0].weights];
    if (runs.some((r) => timed(r) !== timed(runs[0]))) throw new RangeError(`gemv tuning runs of different model shapes or weight storage cannot be merged (${[...new Set(runs.map(timed))].join(', ')})`);
    return { kind: 'clusterkv-e2e-gemv-tuning-merged', adapter: runs[0].adapter, processes: runs.length, ...(model ? { model } : {}), ...(weights ? { weights } : {}), readCeilingGBps: ceiling, rows };
  },
  summary(merged) {
    const lines = merged.rows.map((r) => `B=${r.batch} ${r.shape.padEnd(8)} split ${r.split}: ${r.medianUs.median.toFixed(1).padStart(7)} us (${spreadText(r.medianUs.processes, 1)}) ${r.GBps.toFixed(0).padStart(5)} GB/s ${(100 * r.ofCeiling).toFixed(0).padStart(3)}%`);
    return [`read ceiling ${merged.readCeilingGBps.median.toFixed(0)} GB/s (${spreadText(merged.readCeilingGBps.processes, 0)}), ${merged.processes} processes`, ...lines, ...[1, 8].map((b) => bestSplits(merged, b))].join('\n');
  },
};

/** Per batch: the splits by their GEMV time per token (32 layers of every matrix and the output head once), best first. */
export function bestSplits(merged: { rows: { batch: number; shape: string; asked: string; medianUs: number | { median: number }; perStep?: number }[] }, batch: number): string {
  const perToken = new Map<string, number>();
  for (const r of merged.rows.filter((x) => x.batch === batch)) {
    const us = typeof r.medianUs === 'number' ? r.medianUs : r.medianUs.median;
    perToken.set(r.asked, (perToken.get(r.asked) ?? 0) + us * (r.perStep ?? (r.shape === 'output' ? 1 : 32)));
  }
  return `B=${batch}: per-token GEMV time by split (us): ${[...perToken.entries()].sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`;
}

