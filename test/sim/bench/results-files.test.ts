// The committed benchmark results (bench/results/) against the formats of today's code: every file of a run
// kind the merge knows validates against its schema; what can be made again from what is committed is made
// again and compared (the tokens/s of the model suite from its three runs, the e2e report from its runs in
// merge-runs.test.ts, the kernel bench's cluster sizes from the planted labels).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { plantedClusterSizes } from '../../../src/gpu/kernel-inputs.js';
import { readBenchFile } from '../../../src/sim/bench/bench-file.js';
import { mergeRunFiles, readRunFile } from '../../../src/sim/bench/merge-runs.js';
import { median } from '../../../src/sim/quantile.js';
import { RUN_KINDS } from '../../../bench/run-kinds.js';
import { root } from '../../helpers/cli.js';

const RESULTS = path.join(root, 'bench', 'results');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? jsonFiles(full) : name.endsWith('.json') ? [full] : [];
  });
}

const kindOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { kind?: string }).kind;
/** Committed JSON that is no benchmark run: another command's report, a suite's record of its machine and processes (suite.json), or a one-off record without a kind. */
const NOT_RUNS = new Set(['clusterkv-parity', 'clusterkv-passkey-eval', 'clusterkv-bench-suite', undefined]);

describe('committed benchmark results', () => {
  const files = jsonFiles(RESULTS);

  it('every file of a run kind validates against its schema', () => {
    const known = new Set(RUN_KINDS.flatMap((k) => [k.kind, k.mergedKind]));
    const checked = files.filter((f) => known.has(kindOf(f) ?? ''));
    expect(checked.length).toBeGreaterThanOrEqual(12);
    for (const file of checked) expect(() => readRunFile(file, RUN_KINDS), path.relative(root, file)).not.toThrow();
    const others = files.filter((f) => !known.has(kindOf(f) ?? '')).map((f) => kindOf(f));
    expect(others.every((k) => NOT_RUNS.has(k)), `kinds ${[...new Set(others)].join(', ')}`).toBe(true);
  });

  it("the model suite's tokens/s merge again from its three committed runs to the committed figures", () => {
    const dir = path.join(RESULTS, 'model-webgpu-h200');
    const runs = [1, 2, 3].map((p) => path.join(dir, `model-check-webgpu-16k-${p}.json`));
    const { merged } = mergeRunFiles(runs, RUN_KINDS);
    const committed = JSON.parse(readFileSync(path.join(dir, 'model-speed-webgpu-16k.json'), 'utf8')) as { rows: unknown[] };
    expect((merged as { rows: unknown[] }).rows).toEqual(committed.rows);
  });

  it("the kernel benchmarks' cluster sizes are the planted labels' by the one median", () => {
    for (const file of files.filter((f) => kindOf(f) === 'clusterkv-kernel-bench')) {
      const bench = readBenchFile(file);
      for (const report of [bench.main, ...bench.contexts.map((c) => c.report)]) {
        if (!report) continue;
        const c = report.config;
        const sizes = plantedClusterSizes({ heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, context: c.context, clusters: c.clusters, budget: c.budgets[0], kmeansIters: c.kmeansIters, seed: c.seed, keyNoise: 1 });
        expect(report.clusterSizes, `${path.basename(file)} T=${c.context}`).toEqual({ min: Math.min(...sizes), median: median(sizes), max: Math.max(...sizes) });
      }
    }
  });
});
