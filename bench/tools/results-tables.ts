/**
 * The tables of bench/README.md, from the committed results (so that every number there can be traced):
 *   bench/run.ts tables [KERNELS.json] [TORCH.json]
 * (defaults: bench/results/kernels-webgpu-h200.json, bench/results/torch-reference-h200.json). Prints
 * markdown: the context sweep (WGSL step against WGSL and op-chain dense attention and against PyTorch, same
 * GPU run), and every kernel of the 32K run on both paths with its share of the measured ceilings.
 */
import { benchKernelRows, readBenchFile, stageSum } from '../../src/sim/bench/bench-file.js';
import { findTiming } from '../../src/sim/bench/kernel-bench.js';
import { readCheckedJson, spreadText } from '../../src/sim/bench/merge-runs.js';
import { timingMs, type Timing } from '../../src/sim/bench/timing.js';
import { torchFileSchema, type TorchFile } from '../../src/sim/bench/torch-file.js';

type TorchRow = TorchFile['rows'][number];
const torchMs = (row: TorchRow | undefined, key: string) => (row && typeof row[key] === 'object' ? (row[key] as { median: number }).median : undefined);

const ms = (t: Timing | undefined) => (t ? timingMs(t).toFixed(3) : '–');
const x = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}x` : '–');
const spread = (t: Timing | undefined) => (t?.processes?.kernelMs ? spreadText(t.processes.kernelMs, 3) : '–');

/** Prints the tables of bench/README.md from a merged kernel-bench file and a merged PyTorch file. */
export function printResultsTables(kernelsFile: string, torchFile: string): void {
  const bench = readBenchFile(kernelsFile);
  const torch = readCheckedJson(torchFile, torchFileSchema);
  for (const budget of [2048, 1024]) {
    console.log(`\n### Context sweep, B = ${budget} (kernel ms, median of ${bench.processes ?? 1} fresh processes; spread = their medians)\n`);
    console.log('| context T | C0 | WGSL step | spread | WGSL dense | op-chain dense | op-chain step | step vs WGSL dense | vs op-chain dense | vs PyTorch fp32 dense | vs PyTorch fp16 SDPA | vs PyTorch eager ClusterKV step | WGSL step wall ms | loop ms |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const { context, clusters, report } of bench.contexts) {
      const step = findTiming(report, 'clusterkv-step', 'wgsl', budget);
      const dense = findTiming(report, 'dense-attention', 'wgsl');
      const opsDense = findTiming(report, 'dense-attention', 'ops');
      const opsStep = findTiming(report, 'clusterkv-step', 'ops', budget);
      const row = torch.rows.find((r) => r.context === context);
      const s = step && timingMs(step);
      console.log(
        `| ${context} | ${clusters} | ${ms(step)} | ${spread(step)} | ${ms(dense)} | ${ms(opsDense)} | ${ms(opsStep)} | ${x(dense && timingMs(dense), s)} | ${x(opsDense && timingMs(opsDense), s)} | ${x(torchMs(row, 'denseFp32Ms'), s)} | ${x(torchMs(row, 'sdpaFp16Ms'), s)} | ${x(torchMs(row, `clusterkvStep${budget}Ms`), s)} | ${step?.wallMs.median.toFixed(3) ?? '–'} | ${step?.loopWallMs?.toFixed(3) ?? '–'} |`,
      );
    }
  }

  const main = bench.main!;
  console.log(`\n### 32K run: every kernel on both paths (ceilings in the same processes: copy ${main.peak?.copyGBps.toFixed(0)} GB/s, read ${main.peak?.readGBps.toFixed(0)} GB/s)\n`);
  console.log('| kernel | B | path | kernel ms | spread | wall ms | loop ms | min MB | GB/s | % of read ceiling |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of benchKernelRows([{ file: kernelsFile, label: 'h200', bench }])) {
    const t = findTiming(main, String(r.kernel), r.path as 'ops' | 'wgsl', r.budget as number | null);
    console.log(`| ${r.kernel} | ${r.budget ?? ''} | ${r.path} | ${Number(r.medianMs).toFixed(4)} | ${spread(t)} | ${Number(r.wallMs).toFixed(3)} | ${r.loopMs === null ? '' : Number(r.loopMs).toFixed(3)} | ${Number(r.MB).toFixed(1)} | ${Number(r.GBps).toFixed(0)} | ${r.pctOfRead === null ? '' : Number(r.pctOfRead).toFixed(1)} |`);
  }
  for (const budget of main.config.budgets) {
    console.log(`\nB = ${budget}: stage sums ops ${stageSum(main, 'ops', budget)?.toFixed(3)} ms, wgsl ${stageSum(main, 'wgsl', budget)?.toFixed(3)} ms`);
  }
  const km = findTiming(main, 'kmeans', 'wgsl');
  console.log(`\nK-means (20 it, C0 400, 8 heads x 32K): WGSL ${ms(km)} ms, op chain ${ms(findTiming(main, 'kmeans', 'ops'))} ms, PyTorch eager ${torch.kmeans.ms.median.toFixed(1)} ms`);
}
