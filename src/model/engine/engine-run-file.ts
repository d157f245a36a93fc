/**
 * The file of the engine suite's process (bench/suites/engine.ts: a real model on the WebGPU engine) and its
 * merge over fresh processes. One process: greedy generation from the Moby Dick prompt, dense and through
 * ClusterKV, at the checkpoint's own precision (`modes`: prefill and decode tokens/s, ms per token, ClusterKV's
 * prompt clustering apart), and the model check of the same prompt with an f32 KV cache (`check`, the model
 * suite's format: compared with a run of the tfjs op path on another backend, src/sim/bench/model-check-file.ts).
 * The merge: per mode the median over processes of each rate with every process's value kept, whether every
 * process generated the same ids, and the issue's targets beside the measurement.
 */
import { z } from 'zod';
import { modelCheckFileSchema } from '../../sim/bench/model-check-file.js';
import { overProcesses, overProcessesSchema, RunFileError, spreadText, type OverProcesses, type RunKind } from '../../sim/bench/merge-runs.js';

/** Issue 20's targets for ckvlab-9m-16k's shape at a 16K prompt (one sequence): what the summary holds the medians against. */
export const ENGINE_TARGETS = { context: 16384, denseDecodeTokensPerSecond: 1000, prefillTokensPerSecond: 50_000 } as const;

const engineModeSchema = z.object({
  attention: z.enum(['dense', 'clusterkv']),
  params: z.record(z.string(), z.unknown()).optional(),
  ids: z.array(z.number().int()),
  prefillSeconds: z.number(),
  decodeSeconds: z.number(),
  /** prompt tokens over the prefill and the prompt's clustering together */
  prefillTokensPerSecond: z.number(),
  /** ClusterKV's prompt clustering, seconds (0 dense) */
  clusterSeconds: z.number(),
  decodeTokensPerSecond: z.number(),
  msPerToken: z.number(),
  /** the WGSL decode attention the engine ran (runs before the subgroup kernels: absent, the flash-decoding 'wgsl') */
  attentionKernel: z.string().optional(),
});
export type EngineMode = z.infer<typeof engineModeSchema>;

/** What a run and the merge both say: the backend, runtime and adapter, the model, its prompt, steps and dtypes. */
const engineRunHead = {
  backend: z.string(),
  runtime: z.string(),
  adapter: z.record(z.string(), z.unknown()).nullable(),
  model: z.string(),
  context: z.number().int(),
  steps: z.number().int(),
  dtypes: z.object({ weights: z.string(), kv: z.string() }),
  /** prompt rows per prefill chunk (absent in runs made before it was recorded: the default then, 512) */
  prefillChunk: z.number().int().optional(),
};

export const engineRunFileSchema = z.looseObject({
  kind: z.literal('clusterkv-engine-run'),
  ...engineRunHead,
  versions: z.record(z.string(), z.string()),
  modes: z.array(engineModeSchema),
  check: modelCheckFileSchema,
});
export type EngineRunFile = z.infer<typeof engineRunFileSchema>;

export const engineSpeedSchema = z.looseObject({
  kind: z.literal('clusterkv-engine-speed'),
  ...engineRunHead,
  processes: z.number().int(),
  rows: z.array(
    z.object({
      attention: z.string(),
      prefillTokensPerSecond: overProcessesSchema,
      decodeTokensPerSecond: overProcessesSchema,
      msPerToken: overProcessesSchema,
      clusterSeconds: overProcessesSchema,
      /** the WGSL decode attention the processes ran (absent in runs before the subgroup kernels) */
      attentionKernel: z.string().optional(),
      /** every process generated the same ids */
      sameIds: z.boolean(),
    }),
  ),
  files: z.array(z.string()),
});
export type EngineSpeed = z.infer<typeof engineSpeedSchema>;

export const engineRunKind: RunKind<EngineRunFile, EngineSpeed> = {
  kind: 'clusterkv-engine-run',
  title: 'engine run (suite engine)',
  runSchema: engineRunFileSchema,
  mergedKind: 'clusterkv-engine-speed',
  mergedSchema: engineSpeedSchema,
  merge(runs, files) {
    const [first] = runs;
    const odd = runs.findIndex((r) => r.model !== first.model || r.context !== first.context || r.steps !== first.steps || r.dtypes.kv !== first.dtypes.kv || r.prefillChunk !== first.prefillChunk);
    if (odd > 0) throw new RunFileError(`${files[odd]}: ${runs[odd].model} at ${runs[odd].context} + ${runs[odd].steps} (${runs[odd].dtypes.kv} KV, prefill chunk ${runs[odd].prefillChunk ?? 'unrecorded'}), unlike ${files[0]}`);
    const rows = first.modes.map(({ attention, ids }) => {
      const each = runs.map((r, i) => {
        const m = r.modes.find((x) => x.attention === attention);
        if (!m) throw new RunFileError(`${files[i]}: no ${attention} mode`);
        return m;
      });
      const pick = (k: 'prefillTokensPerSecond' | 'decodeTokensPerSecond' | 'msPerToken' | 'clusterSeconds') => overProcesses(each.map((m) => m[k]));
      return {
        attention,
        prefillTokensPerSecond: pick('prefillTokensPerSecond'),
        decodeTokensPerSecond: pick('decodeTokensPerSecond'),
        msPerToken: pick('msPerToken'),
        clusterSeconds: pick('clusterSeconds'),
        ...(each[0].attentionKernel !== undefined ? { attentionKernel: [...new Set(each.map((m) => m.attentionKernel ?? 'wgsl'))].join(' / ') } : {}),
        sameIds: each.every((m) => JSON.stringify(m.ids) === JSON.stringify(ids)),
      };
    });
    return { kind: 'clusterkv-engine-speed', backend: first.backend, runtime: first.runtime, adapter: first.adapter, model: first.model, context: first.context, steps: first.steps, dtypes: first.dtypes, ...(first.prefillChunk !== undefined ? { prefillChunk: first.prefillChunk } : {}), processes: runs.length, rows, files };
  },
  summary(m) {
    const show = (s: OverProcesses, digits: number) => `${s.median.toFixed(digits)} (${spreadText(s.processes, digits)})`;
    const lines = m.rows.map(
      (r) =>
        `${r.attention}${r.attentionKernel ? ` (${r.attentionKernel} attention)` : ''}: prefill ${show(r.prefillTokensPerSecond, 0)} tok/s, decode ${show(r.decodeTokensPerSecond, 1)} tok/s = ${show(r.msPerToken, 3)} ms/token` +
        `${r.attention === 'dense' ? '' : `, prompt clustering ${show(r.clusterSeconds, 3)} s`}${r.sameIds ? '' : '; the processes generated different ids'}`,
    );
    const dense = m.rows.find((r) => r.attention === 'dense');
    const t = ENGINE_TARGETS;
    const verdict = dense && m.context === ENGINE_TARGETS.context
      ? `targets (issue 20, one sequence at a ${ENGINE_TARGETS.context}-token prompt): dense decode >= ${t.denseDecodeTokensPerSecond} tok/s: ${dense.decodeTokensPerSecond.median >= t.denseDecodeTokensPerSecond ? 'met' : 'missed'}; prefill >= ${t.prefillTokensPerSecond} tok/s: ${dense.prefillTokensPerSecond.median >= t.prefillTokensPerSecond ? 'met' : 'missed'}`
      : '';
    return [`${m.model}: prompt ${m.context} tokens, ${m.steps} decoded, ${m.dtypes.weights} weights, ${m.dtypes.kv} KV, ${m.runtime} on ${m.backend}, ${m.processes} processes`, ...lines, verdict].filter(Boolean).join('\n');
  },
};
