/**
 * The file of bench/torch_reference.py (PyTorch on the GPU host: fp32 dense attention, fp16 SDPA, its own eager
 * ClusterKV step, gathered sparse attention, K-means; suite torch) and its merge over fresh processes: the first
 * run's structure with every timing the median over processes of its medians (each process's median kept) and
 * every other number the median over processes.
 */
import { z } from 'zod';
import { median } from '../quantile.js';
import { overProcesses, RunFileError, spreadText, type RunKind } from './merge-runs.js';

/** One timing: CUDA-event quantiles of one process, or (merged) the median over processes with each one's. */
const torchTimingSchema = z.looseObject({ median: z.number(), p10: z.number().optional(), p90: z.number().optional(), runs: z.number().int(), processes: z.array(z.number()).optional() });
export type TorchTiming = z.infer<typeof torchTimingSchema>;

/** A context's row: context, clusters, bytes, then `<name>Ms` timings (per budget: clusterkvStep2048Ms, ...) and wall figures. */
const torchRowSchema = z
  .object({ context: z.number().int(), clusters: z.number().int(), denseBytes: z.number(), denseFp32Ms: torchTimingSchema, sdpaFp16Ms: torchTimingSchema })
  .catchall(z.union([z.number(), torchTimingSchema]));

export const torchFileSchema = z.looseObject({
  kind: z.literal('clusterkv-torch-reference'),
  /** the CUDA device PyTorch ran on (torch.cuda.get_device_name) */
  device: z.string(),
  torch: z.string(),
  dtype: z.string(),
  tf32Matmul: z.boolean(),
  shape: z.looseObject({ H: z.number().int(), G: z.number().int(), d: z.number().int() }),
  rows: z.array(torchRowSchema),
  kmeans: z.looseObject({ iters: z.number().int(), clusters: z.number().int(), kvHeads: z.number().int(), tokens: z.number().int(), ms: torchTimingSchema }),
  /** processes merged into this file (absent: one process) */
  processes: z.number().int().optional(),
});
export type TorchFile = z.infer<typeof torchFileSchema>;

type Json = number | string | boolean | null | Json[] | { [key: string]: Json };

const isTiming = (x: Json): x is { median: number; runs: number } => typeof x === 'object' && x !== null && !Array.isArray(x) && typeof x.median === 'number' && typeof x.runs === 'number';

/** The first part's structure with each timing and number replaced by the median over the parts at the same place. */
function mergeParts(parts: Json[]): Json {
  const [first] = parts;
  if (isTiming(first)) return { ...overProcesses(parts.map((p) => (p as { median: number }).median)), runs: first.runs };
  if (typeof first === 'number') return median(parts as number[]);
  if (Array.isArray(first)) return first.map((_, i) => mergeParts(parts.map((p) => (p as Json[])[i])));
  if (typeof first === 'object' && first !== null) return Object.fromEntries(Object.keys(first).map((k) => [k, mergeParts(parts.map((p) => (p as Record<string, Json>)[k]))]));
  return first;
}

export const torchKind: RunKind<TorchFile, TorchFile> = {
  kind: 'clusterkv-torch-reference',
  title: 'PyTorch reference (bench/torch_reference.py)',
  runSchema: torchFileSchema,
  mergedKind: 'clusterkv-torch-reference',
  mergedSchema: torchFileSchema,
  processesIn: (value) => (value as { processes?: number }).processes ?? 1,
  merge(runs, files) {
    const contexts = (r: TorchFile) => r.rows.map((row) => row.context).join(',');
    const odd = runs.findIndex((r) => contexts(r) !== contexts(runs[0]) || r.device !== runs[0].device);
    if (odd > 0) throw new RunFileError(`${files[odd]}: another device or other contexts than ${files[0]} (${runs[odd].device}: ${contexts(runs[odd])} against ${runs[0].device}: ${contexts(runs[0])})`);
    return { ...(mergeParts(runs as unknown as Json[]) as TorchFile), processes: runs.length };
  },
  summary(merged) {
    const spread = (t: unknown) => {
      const timing = t as TorchTiming;
      return timing.processes ? `${timing.median.toFixed(3)} (${spreadText(timing.processes, 3)})` : timing.median.toFixed(3);
    };
    const lines = merged.rows.map((r) => `${r.context}: fp32 dense ${spread(r.denseFp32Ms)}, fp16 SDPA ${spread(r.sdpaFp16Ms)}, eager ClusterKV step B=2048 ${r.clusterkvStep2048Ms ? spread(r.clusterkvStep2048Ms) : '–'} ms`);
    return [`${merged.device}, torch ${merged.torch}, ${merged.processes} processes`, ...lines, `K-means ${spread(merged.kmeans.ms)} ms`].join('\n');
  },
};
