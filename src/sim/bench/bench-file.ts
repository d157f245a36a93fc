/**
 * Kernel benchmark results as tables: the JSON files `clusterkv bench --out FILE` writes (committed under
 * bench/results/), or a live runKernelBench report wrapped the same way, turned into rows for the latency
 * figures (src/plot latencyBreakdownFigure, latencyVsContextFigure, paretoLatencyFigure).
 * The time of a stage is its median GPU kernel time where the backend measured one, else its fenced wall time
 * (what the bench's own table prints).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KernelBenchReport } from './kernel-bench.js';
import { timingMs } from './timing.js';

/** The file `clusterkv bench --out` writes. */
export interface BenchFile {
  kind: 'clusterkv-kernel-bench';
  created?: string;
  backend: string;
  adapter?: Record<string, unknown> | null;
  versions?: Record<string, string>;
  timing?: string;
  main: KernelBenchReport;
  contexts: { context: number; clusters: number; report: KernelBenchReport }[];
}

/** A bench file with where it came from and a short label for tables and legends. */
export interface LoadedBench {
  /** the file read, or 'live' */
  file: string;
  /** e.g. 'webgpu NVIDIA H200' or 'wasm (kernels-wasm.json)' */
  label: string;
  bench: BenchFile;
}

/** Wraps a live report (and its context sweep) the way the CLI writes it, so the same tables apply. */
export function benchFile(main: KernelBenchReport, backend: string, contexts: BenchFile['contexts'] = [], adapter: Record<string, unknown> | null = null): BenchFile {
  return { kind: 'clusterkv-kernel-bench', created: new Date().toISOString(), backend, adapter, main, contexts };
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
  return !!v && v.kind === 'clusterkv-kernel-bench' && typeof v.backend === 'string' && !!v.main && Array.isArray(v.main.budgets);
}

/**
 * Every bench file (*.json of kind 'clusterkv-kernel-bench') in `dir`, by file name. A missing folder gives
 * none; other JSON files are listed in `skipped` with the reason.
 */
export function readBenchFiles(dir: string): { benches: LoadedBench[]; skipped: { file: string; reason: string }[] } {
  const benches: LoadedBench[] = [];
  const skipped: { file: string; reason: string }[] = [];
  if (!existsSync(dir)) return { benches, skipped };
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      skipped.push({ file, reason: `not JSON (${(err as Error).message})` });
      continue;
    }
    if (!isBenchFile(value)) {
      const kind = (value as { kind?: unknown } | null)?.kind;
      skipped.push({ file, reason: `not a kernel benchmark (kind ${typeof kind === 'string' ? `'${kind}'` : 'missing'})` });
      continue;
    }
    benches.push({ file, label: benchLabel(value, file), bench: { ...value, contexts: value.contexts ?? [] } });
  }
  return { benches, skipped };
}

/**
 * One row per (source, budget) of the main run: the configuration, dense and ClusterKV step medians, speed-up
 * and K-means time; `timing` says whether the numbers are kernel or wall times.
 */
export function benchSummaryRows(benches: LoadedBench[]): Record<string, unknown>[] {
  return benches.flatMap(({ label, bench }) => {
    const r = bench.main;
    const c = r.config;
    return r.budgets.map((b) => ({
      source: label,
      context: c.context,
      heads: c.heads,
      kvHeads: c.kvHeads,
      headDim: c.headDim,
      clusters: c.clusters,
      budget: b.budget,
      denseMs: timingMs(r.dense),
      clusterkvMs: timingMs(b.clusterkvStep),
      speedup: timingMs(r.dense) / timingMs(b.clusterkvStep),
      kmeansMs: r.kmeans ? timingMs(r.kmeans.timing) : null,
      timing: r.dense.kernelMs ? 'tf.time kernelMs' : 'fenced wall time',
    }));
  });
}

/**
 * Per-stage rows for latencyBreakdownFigure (facetBy 'source'): source, config ('dense' or 'clusterkv B=N'),
 * stage, medianMs. Dense attention is one stage; the ClusterKV step is score, rank, index, gather, attend.
 */
export function benchStageRows(benches: LoadedBench[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const { label, bench } of benches) {
    const r = bench.main;
    rows.push({ source: label, config: 'dense', stage: 'dense attention', medianMs: timingMs(r.dense) });
    for (const b of r.budgets) {
      for (const [stage, t] of Object.entries(b.stages)) rows.push({ source: label, config: `clusterkv B=${b.budget}`, stage, medianMs: timingMs(t) });
    }
  }
  return rows;
}

/**
 * Latency against context for latencyVsContextFigure: one row per (source, context, series) with series
 * 'dense' or 'clusterkv B=N'. The context sweep's points come first; the main run adds its context when the
 * sweep lacks it (where both have a context, the sweep's point is kept: GPU hosts time each sweep point in a
 * fresh process, which bench/README.md explains is the number to read).
 */
export function benchContextRows(benches: LoadedBench[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const { label, bench } of benches) {
    const runs = [...bench.contexts, { context: bench.main.config.context, clusters: bench.main.config.clusters, report: bench.main }];
    const seen = new Set<string>();
    for (const { context, clusters, report } of runs) {
      const add = (series: string, budget: number | null, ms: number) => {
        const key = `${context}\u0000${series}`;
        if (seen.has(key)) return;
        seen.add(key);
        rows.push({ source: label, context, clusters, series, budget, medianMs: ms });
      };
      add('dense', null, timingMs(report.dense));
      for (const b of report.budgets) add(`clusterkv B=${b.budget}`, b.budget, timingMs(b.clusterkvStep));
    }
  }
  return rows.sort((a, b) => String(a.source).localeCompare(String(b.source)) || Number(a.context) - Number(b.context));
}
