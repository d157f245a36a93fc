/**
 * The file of the model suite's process (bench/suites/model.ts: a real model's greedy generation on one
 * backend, dense and through ClusterKV, every id with its top-1 / top-2 logit gap, prefill and decode tokens/s)
 * and its merge over fresh processes: per attention, prefill and decode tokens/s as the median over processes,
 * each process's value kept.
 */
import { z } from 'zod';
import { overProcesses, overProcessesSchema, RunFileError, spreadText, type OverProcesses, type RunKind } from './merge-runs.js';

const modelCheckRunSchema = z.looseObject({
  attention: z.string(),
  params: z.record(z.string(), z.unknown()).optional(),
  ids: z.array(z.number().int()),
  /** per generated id: top-1 minus top-2 logit of the distribution it was chosen from */
  gaps: z.array(z.number()),
  prefillSeconds: z.number(),
  decodeSeconds: z.number(),
  prefillTokensPerSecond: z.number(),
  decodeTokensPerSecond: z.number(),
});

export const modelCheckFileSchema = z.looseObject({
  kind: z.literal('clusterkv-model-check'),
  backend: z.string(),
  adapter: z.record(z.string(), z.unknown()).nullable(),
  model: z.string(),
  context: z.number().int(),
  steps: z.number().int(),
  tensorsLeft: z.number().int(),
  versions: z.record(z.string(), z.string()),
  runs: z.array(modelCheckRunSchema),
});
export type ModelCheckFile = z.infer<typeof modelCheckFileSchema>;

export const modelCheckSpeedSchema = z.looseObject({
  kind: z.literal('clusterkv-model-check-speed'),
  backend: z.string(),
  context: z.number().int(),
  steps: z.number().int(),
  processes: z.number().int(),
  rows: z.array(z.object({ attention: z.string(), prefillTokensPerSecond: overProcessesSchema, decodeTokensPerSecond: overProcessesSchema })),
});
export type ModelCheckSpeed = z.infer<typeof modelCheckSpeedSchema>;

export const modelCheckKind: RunKind<ModelCheckFile, ModelCheckSpeed> = {
  kind: 'clusterkv-model-check',
  title: 'model check (suite model)',
  runSchema: modelCheckFileSchema,
  mergedKind: 'clusterkv-model-check-speed',
  mergedSchema: modelCheckSpeedSchema,
  merge(runs, files) {
    const [first] = runs;
    const odd = runs.findIndex((r) => r.backend !== first.backend || r.context !== first.context || r.steps !== first.steps);
    if (odd > 0) throw new RunFileError(`${files[odd]}: ${runs[odd].backend}, context ${runs[odd].context}, ${runs[odd].steps} steps, unlike ${files[0]} (${first.backend}, ${first.context}, ${first.steps})`);
    const rows = first.runs.map(({ attention }) => {
      const each = runs.map((r, i) => {
        const run = r.runs.find((x) => x.attention === attention);
        if (!run) throw new RunFileError(`${files[i]}: no ${attention} run`);
        return run;
      });
      return { attention, prefillTokensPerSecond: overProcesses(each.map((r) => r.prefillTokensPerSecond)), decodeTokensPerSecond: overProcesses(each.map((r) => r.decodeTokensPerSecond)) };
    });
    return { kind: 'clusterkv-model-check-speed', backend: first.backend, context: first.context, steps: first.steps, processes: runs.length, rows };
  },
  summary(merged) {
    const show = (s: OverProcesses) => `${s.median.toFixed(1)} (${spreadText(s.processes, 1)})`;
    return merged.rows.map((r) => `${r.attention}: prefill ${show(r.prefillTokensPerSecond)} tok/s, decode ${show(r.decodeTokensPerSecond)} tok/s over ${merged.processes} processes`).join('\n');
  },
};

/** One attention's verdict of compareModelChecks. */
export interface ModelCheckComparison {
  attention: string;
  steps: number;
  sameTokens: boolean;
  /** the first step where the ids differ, with both backends' top-1 / top-2 gaps there; rounding: the reference's gap is below the tolerance */
  firstDivergence: { step: number; referenceId: number; otherId: number; referenceGap: number; otherGap: number; rounding: boolean } | null;
  /** the smallest top-1 / top-2 gap of the reference before the divergence (or over all steps) */
  minGapBefore: number;
}

/**
 * Two model checks of the same model and prompt on two backends, per attention: the same ids, or the first
 * divergence with both top-1 / top-2 logit gaps there. A divergence counts as float rounding when the
 * reference's gap at that step is below `tolerance` (two candidates within rounding of each other: either
 * backend may pick either); `clear` is true when one is not.
 */
export function compareModelChecks(reference: ModelCheckFile, other: ModelCheckFile, tolerance: number): { results: ModelCheckComparison[]; clear: boolean; lines: string[] } {
  if (reference.context !== other.context || reference.steps !== other.steps) throw new RunFileError(`the model checks differ in context or steps (${reference.context}/${reference.steps} against ${other.context}/${other.steps})`);
  // the model lives at different paths on different machines: say which, the caller vouches they are the same files
  const lines = reference.model === other.model ? [] : [`models: ${reference.model} (${reference.backend}) and ${other.model} (${other.backend})`];
  const results = reference.runs.map((r) => {
    const o = other.runs.find((x) => x.attention === r.attention);
    if (!o) throw new RunFileError(`the ${other.backend} model check has no ${r.attention} run`);
    const n = Math.min(r.ids.length, o.ids.length);
    let first = -1;
    for (let i = 0; i < n && first < 0; i++) if (r.ids[i] !== o.ids[i]) first = i;
    const result: ModelCheckComparison = {
      attention: r.attention,
      steps: n,
      sameTokens: first < 0 && r.ids.length === o.ids.length,
      firstDivergence: first < 0 ? null : { step: first, referenceId: r.ids[first], otherId: o.ids[first], referenceGap: r.gaps[first], otherGap: o.gaps[first], rounding: r.gaps[first] < tolerance },
      minGapBefore: Math.min(...r.gaps.slice(0, first < 0 ? n : first)),
    };
    const d = result.firstDivergence;
    const verdict = d === null
      ? `same ${n} tokens (smallest top-1/top-2 gap ${result.minGapBefore.toFixed(4)})${r.ids.length !== o.ids.length ? `; the runs generated ${r.ids.length} and ${o.ids.length} tokens` : ''}`
      : `first divergence at step ${d.step}: ${reference.backend} ${d.referenceId} vs ${other.backend} ${d.otherId}, top-1/top-2 gap ${d.referenceGap.toExponential(2)} (${reference.backend}) / ${d.otherGap.toExponential(2)} (${other.backend}): ${d.rounding ? 'within float rounding' : 'NOT explained by rounding'}`;
    lines.push(`${r.attention}: ${verdict}; decode ${r.decodeTokensPerSecond.toFixed(1)} vs ${o.decodeTokensPerSecond.toFixed(1)} tok/s, prefill ${r.prefillTokensPerSecond.toFixed(0)} vs ${o.prefillTokensPerSecond.toFixed(0)} tok/s`);
    return result;
  });
  return { results, clear: results.some((r) => r.firstDivergence !== null && !r.firstDivergence.rounding), lines };
}
