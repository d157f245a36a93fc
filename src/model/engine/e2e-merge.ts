/**
 * Joins e2e runs (one per process and configuration) into rows per (context, batch, attention, budget):
 * the median over processes of each process's median ms/token with the spread of those medians, and the
 * speed-up over dense taken inside each process (dense and ClusterKV timed side by side) before its median
 * over processes. Also the markdown table of bench/README.md.
 */
import { medianSpread, type RunKind } from '../../sim/bench/merge-runs.js';
import { median, medianPerKey } from '../../sim/quantile.js';
import { e2eMergedSchema, type E2eMerged, type E2eMergedRow, type E2eRun } from './e2e-report.js';

function medianOf(xs: (number | null | undefined)[]): number | null {
  const have = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return have.length ? median(have) : null;
}

export function mergeE2eRuns(runs: E2eRun[], failures: E2eMerged['failures'] = [], note = ''): E2eMerged {
  const groups = new Map<string, { context: number; batch: number; modes: { run: E2eRun; mode: E2eRun['modes'][number] }[] }>();
  for (const run of runs) {
    for (const mode of run.modes) {
      const key = `${run.config.context}|${run.config.batch}|${mode.attention}|${mode.budget ?? ''}`;
      const g = groups.get(key) ?? { context: run.config.context, batch: run.config.batch, modes: [] };
      g.modes.push({ run, mode });
      groups.set(key, g);
    }
  }
  const rows: E2eMergedRow[] = [...groups.values()].map((g) => {
    const ms = g.modes.map((m) => m.mode);
    const first = ms[0];
    const speedups = ms.map((m) => m.speedup).filter((x): x is number => x !== null);
    const bounds = ms.map((m) => m.boundSpeedup).filter((x): x is number => x !== null);
    const medianMs = medianSpread(ms.map((m) => m.msPerToken.median));
    const bytes = median(ms.map((m) => m.bytes.total));
    const ceilings = g.modes.map((m) => m.run.readCeiling?.GBps).filter((x): x is number => x !== undefined);
    const breakdowns = ms.map((m) => m.breakdown).filter((b): b is NonNullable<typeof b> => b !== null);
    const kinds = breakdowns.map((b) => b.kindMs).filter((k): k is Record<string, number> => !!k);
    const clustering = g.modes.map((m) => m.run.promptClustering).filter((c) => c.layers > 0).map((c) => c.wallMs);
    const speedup = speedups.length ? medianSpread(speedups) : null;
    const boundSpeedup = bounds.length ? median(bounds) : null;
    const achievedGBps = bytes / medianMs.median / 1e6;
    return {
      context: g.context,
      batch: g.batch,
      attention: first.attention,
      budget: first.budget,
      processes: ms.length,
      msPerToken: medianMs,
      p10: median(ms.map((m) => m.msPerToken.p10)),
      p90: median(ms.map((m) => m.msPerToken.p90)),
      speedup,
      boundSpeedup,
      ofBound: speedup && boundSpeedup ? speedup.median / boundSpeedup : null,
      bytesPerToken: bytes,
      achievedGBps,
      ofReadCeiling: ceilings.length ? achievedGBps / median(ceilings) : null,
      breakdownMs: breakdowns.length ? { ...medianPerKey(breakdowns.map((b) => b.categoryMs)), gaps: median(breakdowns.map((b) => b.gapsMs)) } : null,
      kindMs: kinds.length ? medianPerKey(kinds) : null,
      promptClusteringMs: first.attention === 'clusterkv' && clustering.length ? median(clustering) : null,
      boundSpeedupShared: medianOf(ms.map((m) => m.boundSpeedupShared)),
      gemvGBps: medianOf(ms.map((m) => (m.breakdown?.categoryMs.gemv ? m.bytes.weights / m.breakdown.categoryMs.gemv / 1e6 : null))),
      attentionGBps: medianOf(ms.map((m) => (m.breakdown?.categoryMs.attention ? m.bytes.kv / m.breakdown.categoryMs.attention / 1e6 : null))),
    };
  });
  rows.sort((a, b) => a.context - b.context || a.batch - b.batch || (a.budget ?? 0) - (b.budget ?? 0));
  const ceilings = runs.map((r) => r.readCeiling?.GBps).filter((x): x is number => x !== undefined);
  return { kind: 'clusterkv-e2e-bench-merged', created: new Date().toISOString(), note, readCeilingGBps: ceilings.length ? medianSpread(ceilings) : null, rows, failures, runs };
}

const f = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? '–' : x.toFixed(digits));

/**
 * The markdown tables of bench/README.md: the speed-up per (context, batch, budget) beside its dense
 * baseline and its bounds, then where the time of each step goes.
 */
export function e2eMarkdownTable(merged: E2eMerged): string {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(0)}%`);
  const dense = new Map(merged.rows.filter((r) => r.attention === 'dense').map((r) => [`${r.context}|${r.batch}`, r]));
  const speed = [
    '| context | batch | B | dense ms/token | ClusterKV ms/token (min–max over processes) | speed-up (min–max) | bytes bound | of bound | bound if a KV head\'s query heads share rows | vs the paper\'s 2x | processes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of merged.rows.filter((x) => x.attention === 'clusterkv')) {
    const d = dense.get(`${r.context}|${r.batch}`);
    speed.push(
      `| ${r.context} | ${r.batch} | ${r.budget} | ${f(d?.msPerToken.median)} | ${f(r.msPerToken.median)} (${f(r.msPerToken.min)}–${f(r.msPerToken.max)}) | ${r.speedup ? `${f(r.speedup.median)}x (${f(r.speedup.min)}–${f(r.speedup.max)})` : '–'} | ${r.boundSpeedup ? `${f(r.boundSpeedup)}x` : '–'} | ${pct(r.ofBound)} | ${r.boundSpeedupShared ? `${f(r.boundSpeedupShared)}x` : '–'} | ${r.speedup ? `${pct(r.speedup.median / 2)}` : '–'} | ${r.processes} |`,
    );
  }
  const time = [
    '| context | batch | attention | ms/token | p10 / p90 | GB/step | GB/s (of read ceiling) | GEMV GB/s | attention GB/s | gemv / attention / selection / other / gaps ms (instrumented) | prompt K-means ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of merged.rows) {
    const b = r.breakdownMs;
    const parts = b ? ['gemv', 'attention', 'selection', 'other', 'gaps'].map((k) => f(b[k] ?? 0)).join(' / ') : '–';
    time.push(
      `| ${r.context} | ${r.batch} | ${r.attention === 'dense' ? 'dense' : `ClusterKV B=${r.budget}`} | ${f(r.msPerToken.median)} | ${f(r.p10)} / ${f(r.p90)} | ${f(r.bytesPerToken / 1e9)} | ${f(r.achievedGBps, 0)} (${pct(r.ofReadCeiling)}) | ${f(r.gemvGBps, 0)} | ${f(r.attentionGBps, 0)} | ${parts} | ${f(r.promptClusteringMs, 0)} |`,
    );
  }
  return `${speed.join('\n')}\n\n${time.join('\n')}`;
}

/**
 * `clusterkv e2e` reports for the one merge (suite e2e): every report keeps its processes' runs, so reports
 * merge again exactly; a report's own failures stay listed under its file, beside the processes that wrote none.
 */
export const e2eKind: RunKind<E2eMerged, E2eMerged> = {
  kind: 'clusterkv-e2e-bench-merged',
  title: 'end-to-end decode report (clusterkv e2e)',
  runSchema: e2eMergedSchema,
  mergedKind: 'clusterkv-e2e-bench-merged',
  mergedSchema: e2eMergedSchema,
  remerges: true,
  merge(reports, files, failures) {
    const runs = reports.flatMap((r) => r.runs);
    const failed = [...reports.flatMap((r, i) => r.failures.map((f) => ({ file: `${files[i]}: ${f.file}`, reason: f.reason }))), ...failures];
    return mergeE2eRuns(runs, failed, `${runs.length} runs from ${files.length} report files (one process each); every configuration's speed-up is taken inside its process, then the median over processes`);
  },
  summary(merged) {
    const counts = new Map<string, number>();
    for (const r of merged.rows) counts.set(`${r.context}/${r.batch}`, r.processes);
    const failed = merged.failures.length ? `\n\n${merged.failures.length} failed: ${merged.failures.map((f) => `${f.file} (${f.reason})`).join('; ')}` : '';
    return `${e2eMarkdownTable(merged)}${failed}\nprocesses per (context/batch): ${[...counts.entries()].map(([k, v]) => `${k}: ${v}`).join(', ')}`;
  },
};
