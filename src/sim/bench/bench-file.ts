/**
 * Kernel benchmark results as tables: the JSON files `clusterkv bench --out FILE` writes (committed under
 * bench/results/), or a live runKernelBench report wrapped the same way, turned into rows for the README
 * tables and the latency figures (src/plot latencyBreakdownFigure, latencyVsContextFigure).
 * The time of a kernel is its median GPU kernel time where the backend measured one, else its fenced wall
 * time. Files from several fresh processes of one configuration merge into one (mergeBenchFiles): the
 * median over processes of each median, with every process's median kept.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { KvDtype } from '../../gpu/half-tensor.js';
import type { KernelPath } from '../../gpu/kernel-path.js';
import { median } from '../quantile.js';
import { findTiming, reportPaths, STEP_STAGES, type KernelBenchReport, type KernelTiming } from './kernel-bench.js';
import { spreadText, type RunKind } from './merge-runs.js';
import { timingMs, type Quantiles, type Timing } from './timing.js';

export const BENCH_FILE_VERSION = 2;

/** The file `clusterkv bench --out` writes. */
export interface BenchFile {
  kind: 'clusterkv-kernel-bench';
  version: typeof BENCH_FILE_VERSION;
  created?: string;
  backend: string;
  adapter?: Record<string, unknown> | null;
  versions?: Record<string, string>;
  timing?: string;
  /** processes merged into this file (1: a single run) */
  processes?: number;
  main: KernelBenchReport | null;
  contexts: { context: number; clusters: number; report: KernelBenchReport }[];
}

const quantilesSchema = z.looseObject({ median: z.number(), p10: z.number(), p90: z.number(), runs: z.number().int() });

const timingSchema = z.looseObject({
  wallMs: quantilesSchema,
  kernelMs: quantilesSchema.optional(),
  loopWallMs: z.number().optional(),
  bytes: z.number(),
  achievedGBps: z.number(),
  processes: z.looseObject({ kernelMs: z.array(z.number()).optional(), wallMs: z.array(z.number()) }).optional(),
});

const reportSchema = z.looseObject({
  config: z.looseObject({
    context: z.number().int(), heads: z.number().int(), kvHeads: z.number().int(), headDim: z.number().int(), clusters: z.number().int(),
    budgets: z.array(z.number().int()), warmup: z.number().int(), runs: z.number().int(), kmeansIters: z.number().int(), kmeansRuns: z.number().int(), seed: z.number().int(),
    kernels: z.array(z.string()).optional(), paths: z.array(z.enum(['ops', 'wgsl'])).optional(), heatMs: z.number().optional(),
  }),
  peak: z.looseObject({ copyGBps: z.number(), readGBps: z.number() }).optional(),
  timings: z.array(z.looseObject({ kernel: z.string(), budget: z.number().int().nullable(), path: z.enum(['ops', 'wgsl']), timing: timingSchema })),
  clusterSizes: z.looseObject({ min: z.number(), median: z.number(), max: z.number() }),
});

/** The bench file's shape as zod sees it (benchFileSchema is it, typed as BenchFile). */
const benchFileShape = z.looseObject({
  kind: z.literal('clusterkv-kernel-bench'),
  version: z.literal(BENCH_FILE_VERSION),
  created: z.string().optional(),
  backend: z.string(),
  adapter: z.record(z.string(), z.unknown()).nullable().optional(),
  versions: z.record(z.string(), z.string()).optional(),
  timing: z.string().optional(),
  processes: z.number().int().optional(),
  main: reportSchema.nullable(),
  contexts: z.array(z.looseObject({ context: z.number().int(), clusters: z.number().int(), report: reportSchema })),
});

/**
 * The shape's output is a BenchFile, checked by the strict compiler. tslab compiles notebooks without
 * strictNullChecks, where zod infers every nullable key as optional (a timing's required `budget: number | null`
 * then no longer matches) and `null extends number` holds: there the check is `unknown`, vacuous.
 */
type StrictlyChecked<T> = null extends number ? unknown : T;
const shapeIsBenchFile: StrictlyChecked<z.ZodType<BenchFile>> = benchFileShape;

/** The bench file's schema (one process's file and a merged one alike: `processes` tells them apart). */
export const benchFileSchema = shapeIsBenchFile as z.ZodType<BenchFile>;

/** A bench file with where it came from and a short label for tables and legends. */
export interface LoadedBench {
  /** the file read, or 'live' */
  file: string;
  /** e.g. 'webgpu NVIDIA H200' or 'wasm (kernels-wasm.json)' */
  label: string;
  bench: BenchFile;
}

/** Wraps a live report (and its context sweep) the way the CLI writes it, so the same tables apply. */
export function benchFile(main: KernelBenchReport | null, backend: string, contexts: BenchFile['contexts'] = [], adapter: Record<string, unknown> | null = null): BenchFile {
  return { kind: 'clusterkv-kernel-bench', version: BENCH_FILE_VERSION, created: new Date().toISOString(), backend, adapter, processes: 1, main, contexts };
}

function adapterName(adapter: Record<string, unknown> | null | undefined): string | undefined {
  if (!adapter) return undefined;
  for (const key of ['device', 'description', 'architecture', 'vendor']) {
    const v = adapter[key];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return undefined;
}

/** 'BACKEND ADAPTER' when the file names its adapter, else 'BACKEND (FILE)'. */
export function benchLabel(bench: BenchFile, file: string): string {
  const adapter = adapterName(bench.adapter);
  return adapter ? `${bench.backend} ${adapter}` : `${bench.backend} (${path.basename(file)})`;
}

function isBenchFile(value: unknown): value is BenchFile {
  const v = value as Partial<BenchFile> | null;
  return !!v && v.kind === 'clusterkv-kernel-bench' && typeof v.backend === 'string' && Array.isArray(v.contexts);
}

/**
 * Every bench file (*.json of kind 'clusterkv-kernel-bench', version 2) in `dir`, by file name. A missing
 * folder gives none; other JSON files are listed in `skipped` with the reason.
 */
export function readBenchFiles(dir: string): { benches: LoadedBench[]; skipped: { file: string; reason: string }[] } {
  const benches: LoadedBench[] = [];
  const skipped: { file: string; reason: string }[] = [];
  if (!existsSync(dir)) return { benches, skipped };
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    const read = tryReadBenchFile(file);
    if (typeof read === 'string') skipped.push({ file, reason: read });
    else benches.push({ file, label: benchLabel(read, file), bench: read });
  }
  // files of the same card would share a label: name the file too
  for (const b of benches) if (benches.filter((o) => o.label === b.label).length > 1) b.label = `${b.label} (${path.basename(b.file)})`;
  return { benches, skipped };
}

/** One bench file (kind 'clusterkv-kernel-bench', version 2); throws naming the file and why it is not one. */
export function readBenchFile(file: string): BenchFile {
  const read = tryReadBenchFile(file);
  if (typeof read === 'string') throw new Error(`${file}: ${read}`);
  return read;
}

/** The bench file, or why `file` is not one. */
function tryReadBenchFile(file: string): BenchFile | string {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (!isBenchFile(value)) {
    const kind = (value as { kind?: unknown } | null)?.kind;
    return `not a kernel benchmark (kind ${typeof kind === 'string' ? `'${kind}'` : 'missing'})`;
  }
  if (value.version !== BENCH_FILE_VERSION) return `kernel benchmark of format version ${value.version ?? 1}, expected ${BENCH_FILE_VERSION}`;
  const parsed = benchFileSchema.safeParse(value);
  if (!parsed.success) return `not a kernel benchmark of this format (${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message})`;
  return parsed.data;
}

/** Every report of a file: the main run first, then the context sweep. */
function reports(bench: BenchFile): { context: number; clusters: number; report: KernelBenchReport; main: boolean }[] {
  const out = bench.main ? [{ context: bench.main.config.context, clusters: bench.main.config.clusters, report: bench.main, main: true }] : [];
  return [...out, ...bench.contexts.map((c) => ({ ...c, main: false }))];
}

const ms = (t: Timing | undefined) => (t ? timingMs(t) : null);

/** The K/V storages a report timed (older files: f32 only) and the kernel name of `kernel` at each. */
function kvVariants(r: KernelBenchReport): { kv: KvDtype; name: (kernel: string) => string }[] {
  return (r.config.kvDtypes ?? ['f32']).map((kv) => ({ kv, name: (kernel: string) => (kv === 'f16' ? `${kernel}-f16` : kernel) }));
}

/**
 * One row per (source, path, K/V storage, budget) of the main run: dense and ClusterKV step medians (kernel
 * time where measured), their wall medians, the speed-up and K-means time; `timing` says which clock.
 */
export function benchSummaryRows(benches: LoadedBench[]): Record<string, unknown>[] {
  return benches.flatMap(({ label, bench }) => {
    const r = bench.main;
    if (!r) return [];
    const c = r.config;
    return reportPaths(r).flatMap((p) =>
      kvVariants(r).flatMap(({ kv, name }) => c.budgets.map((budget) => {
        const [dense, step, kmeans] = [findTiming(r, name('dense-attention'), p), findTiming(r, name('clusterkv-step'), p, budget), findTiming(r, name('kmeans'), p)];
        return {
          source: label, path: p, kv, context: c.context, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, clusters: c.clusters, budget,
          denseMs: ms(dense), clusterkvMs: ms(step), speedup: dense && step ? timingMs(dense) / timingMs(step) : null,
          denseWallMs: dense?.wallMs.median ?? null, clusterkvWallMs: step?.wallMs.median ?? null, clusterkvLoopMs: step?.loopWallMs ?? null, kmeansMs: ms(kmeans),
          timing: (dense ?? step)?.kernelMs ? 'kernel time' : 'fenced wall time',
        };
      })),
    );
  });
}

/**
 * f16 against f32 K/V: one row per (source, path, kernel, budget) of the main run that has both storages:
 * each one's median (kernel time where measured), GB/s, and f32 / f16 (above 1: f16 is faster).
 */
export function benchKvDtypeRows(benches: LoadedBench[]): Record<string, unknown>[] {
  return benches.flatMap(({ label, bench }) => {
    const r = bench.main;
    if (!r) return [];
    return r.timings
      .filter((t) => t.kernel.endsWith('-f16'))
      .flatMap((t16) => {
        const kernel = t16.kernel.slice(0, -'-f16'.length);
        const t32 = findTiming(r, kernel, t16.path, t16.budget);
        if (!t32) return [];
        return [{ source: label, path: t16.path, kernel, budget: t16.budget, f32Ms: timingMs(t32), f16Ms: timingMs(t16.timing), f32GBps: t32.achievedGBps, f16GBps: t16.timing.achievedGBps, f32OverF16: timingMs(t32) / timingMs(t16.timing) }];
      });
  });
}

/**
 * Every timed kernel of the main run: source, path, kernel, budget, median (kernel where measured) and wall
 * median, bytes, GB/s, and the share of the run's read and copy ceilings where measured.
 */
export function benchKernelRows(benches: LoadedBench[]): Record<string, unknown>[] {
  return benches.flatMap(({ label, bench }) => {
    const r = bench.main;
    if (!r) return [];
    return r.timings.map((t: KernelTiming) => ({
      source: label, path: t.path, kernel: t.kernel, budget: t.budget, medianMs: timingMs(t.timing), wallMs: t.timing.wallMs.median, loopMs: t.timing.loopWallMs ?? null,
      MB: t.timing.bytes / 1e6, GBps: t.timing.achievedGBps,
      pctOfRead: r.peak ? (100 * t.timing.achievedGBps) / r.peak.readGBps : null,
      pctOfCopy: r.peak ? (100 * t.timing.achievedGBps) / r.peak.copyGBps : null,
    }));
  });
}

/**
 * The op chain and the WGSL kernel side by side: one row per (source, kernel, budget) of the main run timed
 * on both paths, with each path's median (kernel time where measured) and the WGSL path's speed-up.
 */
export function benchPathRows(benches: LoadedBench[]): Record<string, unknown>[] {
  return benches.flatMap(({ label, bench }) => {
    const r = bench.main;
    if (!r) return [];
    const seen = new Set<string>();
    const rows: Record<string, unknown>[] = [];
    for (const t of r.timings) {
      const key = `${t.kernel}\u0000${t.budget}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const [ops, wgsl] = [findTiming(r, t.kernel, 'ops', t.budget), findTiming(r, t.kernel, 'wgsl', t.budget)];
      if (!ops || !wgsl) continue;
      rows.push({ source: label, kernel: t.kernel, budget: t.budget, opsMs: timingMs(ops), wgslMs: timingMs(wgsl), wgslSpeedup: timingMs(ops) / timingMs(wgsl), opsWallMs: ops.wallMs.median, wgslWallMs: wgsl.wallMs.median });
    }
    return rows;
  });
}

/**
 * Per-stage rows for latencyBreakdownFigure (facetBy 'source'): one panel per (file, path), source
 * 'LABEL · PATH'; config 'dense' or 'clusterkv B=N'; the step's stages of that path (STEP_STAGES).
 */
export function benchStageRows(benches: LoadedBench[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const { label, bench } of benches) {
    const r = bench.main;
    if (!r) continue;
    for (const p of reportPaths(r)) {
      const source = `${label} · ${p}`;
      const dense = findTiming(r, 'dense-attention', p);
      if (dense) rows.push({ source, config: 'dense', stage: 'dense attention', medianMs: timingMs(dense) });
      for (const budget of r.config.budgets) {
        for (const stage of STEP_STAGES[p]) {
          const t = findTiming(r, stage, p, budget);
          if (t) rows.push({ source, config: `clusterkv B=${budget}`, stage, medianMs: timingMs(t) });
        }
      }
    }
  }
  return rows;
}

/**
 * Latency against context for latencyVsContextFigure: one row per (source, context, series), source
 * 'LABEL · PATH', series 'dense' or 'clusterkv B=N'. The context sweep's points come first; the main run adds
 * its context when the sweep lacks it.
 */
export function benchContextRows(benches: LoadedBench[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const { label, bench } of benches) {
    const seen = new Set<string>();
    const runs = [...reports(bench).filter((x) => !x.main), ...reports(bench).filter((x) => x.main)];
    for (const { context, clusters, report } of runs) {
      for (const p of reportPaths(report)) {
        for (const { kv, name } of kvVariants(report)) {
          // f16 runs get their own line; files timed in f32 alone keep their older label
          const source = `${label} · ${p}${kv === 'f16' || (report.config.kvDtypes ?? []).length > 1 ? ` · ${kv}` : ''}`;
          const add = (series: string, budget: number | null, t: Timing | undefined) => {
            const key = `${source}\u0000${context}\u0000${series}`;
            if (!t || seen.has(key)) return;
            seen.add(key);
            rows.push({ source, path: p, kv, context, clusters, series, budget, medianMs: timingMs(t), wallMs: t.wallMs.median });
          };
          add('dense', null, findTiming(report, name('dense-attention'), p));
          for (const budget of report.config.budgets) add(`clusterkv B=${budget}`, budget, findTiming(report, name('clusterkv-step'), p, budget));
        }
      }
    }
  }
  return rows.sort((a, b) => String(a.source).localeCompare(String(b.source)) || Number(a.context) - Number(b.context));
}

function mergeQuantiles(qs: Quantiles[]): Quantiles {
  return { median: median(qs.map((q) => q.median)), p10: median(qs.map((q) => q.p10)), p90: median(qs.map((q) => q.p90)), runs: qs.reduce((s, q) => s + q.runs, 0) };
}

function mergeTimings(ts: Timing[]): Timing {
  const kernel = ts.every((t) => t.kernelMs) ? ts.map((t) => t.kernelMs!) : undefined;
  const kernelMs = kernel ? mergeQuantiles(kernel) : undefined;
  const wallMs = mergeQuantiles(ts.map((t) => t.wallMs));
  const bytes = ts[0].bytes;
  const loops = ts.map((t) => t.loopWallMs).filter((x): x is number => x !== undefined);
  const loopWallMs = loops.length ? median(loops) : undefined;
  return { wallMs, kernelMs, loopWallMs, bytes, achievedGBps: bytes / ((kernelMs ?? wallMs).median * 1e-3) / 1e9, processes: { kernelMs: kernel?.map((q) => q.median), wallMs: ts.map((t) => t.wallMs.median) } };
}

/** Reports of one configuration from several processes: timings grouped by (kernel, path, budget). */
function mergeReports(rs: KernelBenchReport[]): KernelBenchReport {
  const groups = new Map<string, KernelTiming[]>();
  for (const t of rs.flatMap((r) => r.timings)) {
    const key = `${t.kernel}\u0000${t.path}\u0000${t.budget}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const timings = [...groups.values()].map((g) => ({ ...g[0], timing: mergeTimings(g.map((t) => t.timing)) }));
  const peaks = rs.map((r) => r.peak).filter((p): p is NonNullable<KernelBenchReport['peak']> => !!p);
  // budgets of one context may come from separate processes
  const budgets = [...new Set(rs.flatMap((r) => r.config.budgets))].sort((x, y) => y - x);
  return { ...rs[0], config: { ...rs[0].config, budgets }, timings, peak: peaks.length ? { copyGBps: median(peaks.map((p) => p.copyGBps)), readGBps: median(peaks.map((p) => p.readGBps)) } : undefined };
}

/**
 * One file from several bench files of fresh processes: reports of the same context merge (main with main,
 * each sweep context with its own), each timing the median over processes of the medians (and of the p10,
 * p90), with each process's median kept under `processes`.
 */
export function mergeBenchFiles(files: BenchFile[]): BenchFile {
  if (files.length === 0) throw new RangeError('no bench files to merge');
  const mains = files.map((f) => f.main).filter((m): m is KernelBenchReport => !!m);
  const byContext = new Map<number, { clusters: number; reports: KernelBenchReport[] }>();
  for (const f of files) {
    for (const c of f.contexts) {
      const entry = byContext.get(c.context) ?? { clusters: c.clusters, reports: [] };
      entry.reports.push(c.report);
      byContext.set(c.context, entry);
    }
  }
  return {
    ...files[0],
    created: new Date().toISOString(),
    processes: Math.max(mains.length, ...[...byContext.values()].map((c) => c.reports.length)),
    main: mains.length ? mergeReports(mains) : null,
    contexts: [...byContext.entries()].sort((a, b) => a[0] - b[0]).map(([context, { clusters, reports: rs }]) => ({ context, clusters, report: mergeReports(rs) })),
  };
}

/** The step's stages on `path` at `budget`, summed (ms), for comparison with the step timed as one unit. */
export function stageSum(report: KernelBenchReport, path: KernelPath, budget: number): number | null {
  const ts = STEP_STAGES[path].map((s) => findTiming(report, s, path, budget));
  return ts.every((t) => t) ? ts.reduce((s, t) => s + timingMs(t!), 0) : null;
}

/** What mergeBenchFiles adds to the file's timing note. */
const MERGED_NOTE = "merged from fresh processes: medians over processes, each process's median under 'processes'";

/**
 * Kernel-bench files (`clusterkv bench --out`, suites kernels and contexts) for the one merge: main runs with
 * main runs, each sweep context with its own; the summary lists the 32K run's kernels and the sweep with the
 * spread of the processes' medians.
 */
export const kernelBenchKind: RunKind<BenchFile, BenchFile> = {
  kind: 'clusterkv-kernel-bench',
  title: 'kernel benchmark (clusterkv bench)',
  runSchema: benchFileSchema,
  mergedKind: 'clusterkv-kernel-bench',
  mergedSchema: benchFileSchema,
  processesIn: (value) => (value as { processes?: number }).processes ?? 1,
  merge(runs) {
    const merged = mergeBenchFiles(runs);
    return { ...merged, timing: merged.timing ? `${merged.timing}; ${MERGED_NOTE}` : MERGED_NOTE };
  },
  summary(merged) {
    const spread = (t: Timing) => (t.processes?.kernelMs ?? t.processes?.wallMs ?? [timingMs(t)]);
    const line = (context: number, t: KernelTiming) => `${context}\t${t.kernel}${t.budget === null ? '' : ` B=${t.budget}`} [${t.path}]\t${timingMs(t.timing).toFixed(4)} ms (${spreadText(spread(t.timing), 4)})`;
    const lines = [`${merged.backend}: main ${merged.main ? 'yes' : 'no'}, contexts ${merged.contexts.map((c) => c.context).join(', ') || 'none'}, up to ${merged.processes} processes per configuration`];
    if (merged.main) lines.push(...merged.main.timings.map((t) => line(merged.main!.config.context, t)));
    for (const c of merged.contexts) lines.push(...c.report.timings.map((t) => line(c.context, t)));
    return lines.join('\n');
  },
};
