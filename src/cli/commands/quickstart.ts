/**
 * `clusterkv quickstart`: the README's main command. Synthesizes the embedded default trace
 * (4 layers, 8 heads, 2 KV heads, head dim 64, 4K tokens, 16 decode steps), sweeps full, oracle and
 * clusterkv over three cluster counts (L/160, L/80, L/40) and four budgets, and prints mean recall.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { sparseLayerRows } from '../../sim/sparse-layers.js';
import { clusterkv } from '../../sim/methods/clusterkv.js';
import { runSweep, summarize, summaryColumns } from '../../sim/sweep.js';
import { DEFAULT_SYNTH, writeSyntheticTrace } from '../../trace/index.js';
import { progressBar } from '../progress.js';
import { formatTable } from '../table.js';

export function register(program: Command): void {
  program
    .command('quickstart')
    .description('synthesize the default trace, sweep full/oracle/clusterkv over cluster counts and budgets, print mean recall')
    .option('--out <dir>', 'folder for the trace and the results', 'runs/quickstart')
    .option('--backend <name>', 'tfjs backend (default: env CLUSTERKV_BACKEND, else first that loads)')
    .action(async (flags: { out: string; backend?: string }) => {
      const backend = await useBackend(flags.backend);
      const tracePath = path.join(flags.out, 'trace.safetensors');
      const manifest = await writeSyntheticTrace(tracePath, DEFAULT_SYNTH);
      // C0 at ClusterKV's default tokens per cluster (80), at half and at twice as many clusters
      const { sinks, tokensPerCluster } = clusterkv.params;
      const clusterable = manifest.prefillLength - sinks.default!;
      const clusters = [2, 1, 0.5].map((f) => Math.ceil(clusterable / (tokensPerCluster.default! * f)));
      console.log(`trace: ${tracePath} (${manifest.model.layers} layers, ${manifest.model.heads} heads, ${manifest.model.kvHeads} KV heads, d ${manifest.model.headDim}, ${manifest.contextLength} tokens, ${manifest.stepPositions.length} steps, seed ${manifest.seed})`);
      const bar = progressBar('sweep');
      const result = await runSweep(tracePath, { methods: ['full', 'oracle', 'clusterkv'], budgets: [128, 256, 512, 1024], clusters, seed: 0 }, path.join(flags.out, 'sweep'), {
        backend,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      const summary = summarize(sparseLayerRows(result.table));
      console.log(formatTable(summary.objects() as Record<string, unknown>[], summaryColumns(summary)));
      console.log(`\nmean over the sparse layers (layer >= denseLayers = 2: the first layers are dense, recall 1, for every budgeted method), heads and steps; ${result.cells.length} cells on ${backend} in ${result.seconds.toFixed(1)} s; results: ${path.join(flags.out, 'sweep', 'results.csv')}`);
    });
}
