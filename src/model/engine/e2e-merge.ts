/**
 * Joins e2e runs (one per process and configuration) into rows per (context, batch, attention, budget):
 * the median over processes of each process's median ms/token with the spread of those medians, and the
 * speed-up over dense taken inside each process (dense and ClusterKV timed side by side) before its median
 * over processes. Also the markdown table of bench/README.md.
 */
import type { E2eMerged, E2eMergedRow, E2eRun } from './e2e-report.js';

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: mid, min: s[0], max: s[s.length - 1] };
}

function medianOf(xs: (number | null | undefined)[]): number | null {
  const have = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return have.length ? stats(have).median : null;
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
    const medianMs = stats(ms.map((m) => m.msPerToken.median));
    const bytes = stats(ms.map((m) => m.bytes.total)).median;
    const ceilings = g.modes.map((m) => m.run.readCeiling?.GBps).filter((x): x is number => x !== undefined);
    const breakdowns = ms.map((m) => m.breakdown).filter((b): b is NonNullable<typeof b> => b !== null);
    const categories = [...new Set(breakdowns.flatMap((b) => Object.keys(b.categoryMs)))];
    const clustering = g.modes.map((m) => m.run.promptClustering).filter((c) => c.layers > 0).map((c) => c.wallMs);
    const speedup = speedups.length ? stats(speedups) : null;
    const boundSpeedup = bounds.length ? stats(bounds).median : null;
    const achievedGBps = bytes / medianMs.median / 1e6;
    return {
      context: g.context,
      batch: g.batch,
      attention: first.attention,
      budget: first.budget,
      processes: ms.length,
      msPerToken: medianMs,
      p10: stats(ms.map((m) => m.msPerToken.p10)).median,
      p90: stats(ms.map((m) => m.msPerToken.p90)).median,
      speedup,
      boundSpeedup,
      ofBound: speedup && boundSpeedup ? speedup.median / boundSpeedup : null,
      bytesPerToken: bytes,
      achievedGBps,
      ofReadCeiling: ceilings.length ? achievedGBps / stats(ceilings).median : null,
      breakdownMs: breakdowns.length ? Object.fromEntries([...categories.map((c) => [c, stats(breakdowns.map((b) => b.categoryMs[c] ?? 0)).median]), ['gaps', stats(breakdowns.map((b) => b.gapsMs)).median]]) : null,
      promptClusteringMs: first.attention === 'clusterkv' && clustering.length ? stats(clustering).median : null,
      boundSpeedupShared: medianOf(ms.map((m) => m.boundSpeedupShared)),
      gemvGBps: medianOf(ms.map((m) => (m.breakdown?.categoryMs.gemv ? m.bytes.weights / m.breakdown.categoryMs.gemv / 1e6 : null))),
      attentionGBps: medianOf(ms.map((m) => (m.breakdown?.categoryMs.attention ? m.bytes.kv / m.breakdown.categoryMs.attention / 1e6 : null))),
    };
  });
  rows.sort((a, b) => a.context - b.context || a.batch - b.batch || (a.budget ?? 0) - (b.budget ?? 0));
  const ceilings = runs.map((r) => r.readCeiling?.GBps).filter((x): x is number => x !== undefined);
  return { kind: 'clusterkv-e2e-bench-merged', created: new Date().toISOString(), note, readCeilingGBps: ceilings.length ? stats(ceilings) : null, rows, failures, runs };
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
