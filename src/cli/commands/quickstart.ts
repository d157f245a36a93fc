/**
 * `clusterkv quickstart`: the README's main command. Synthesizes the embedded default trace
 * (4 layers, 8 heads, 2 KV heads, head dim 64, 4K tokens, 16 decode steps), sweeps full, oracle and
 * clusterkv over three cluster counts and four budgets, and prints mean recall.
 * The cluster counts are C0 = ceil(L / tokens per cluster) for 160, 80 (ClusterKV's default) and 40 tokens
 * per cluster, L = the prompt tokens after ClusterKV's sinks: coarser, default and finer clusters.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { sparseLayerRows } from '../../sim/sparse-layers.js';
import { CLUSTERKV_DEFAULTS, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { runSweep, summarize, summaryColumns } from '../../sim/sweep.js';
import { DEFAULT_SYNTH, writeSyntheticTrace } from '../../trace/index.js';
import { checkOutputFolder } from '../errors.js';
import { backendOption } from '../options.js';
import { progressBar } from '../progress.js';
import { count, formatTable } from '../table.js';
import { SWEEP_PROGRESS_UNIT } from './sweep.js';

/** Tokens per cluster of the three cluster counts: half, at and twice ClusterKV's default (80). */
const TOKENS_PER_CLUSTER = [2, 1, 0.5].map((f) => f * CLUSTERKV_DEFAULTS.tokensPerCluster);

export function register(program: Command): void {
  program
    .command('quickstart')
    .description('synthesize the default trace, sweep full/oracle/clusterkv over cluster counts and budgets, print mean recall')
    .option('--out <dir>', 'folder for the trace and the results', 'runs/quickstart')
    .addOption(backendOption())
    .option('--json', 'print the summary as JSON instead of a table')
    .action(async (flags: { out: string; backend?: string; json?: boolean }) => {
      checkOutputFolder(flags.out);
      const backend = await useBackend(flags.backend);
      const tracePath = path.join(flags.out, 'trace.safetensors');
      const manifest = await writeSyntheticTrace(tracePath, DEFAULT_SYNTH);
      const { sinks } = CLUSTERKV_DEFAULTS;
      const plans = TOKENS_PER_CLUSTER.map((tokensPerCluster) => promptClustering({ ...CLUSTERKV_DEFAULTS, tokensPerCluster }, manifest.prefillLength));
      const clusters = plans.map((p) => p.clusters);
      const clusterNote =
        `clusters C0 = ceil(L / tokens per cluster) with L = ${plans[0].tokens} prompt tokens (prefill ${manifest.prefillLength} minus ${sinks} sinks, which ClusterKV always keeps) ` +
        `and ${TOKENS_PER_CLUSTER.join(', ')} tokens per cluster (${CLUSTERKV_DEFAULTS.tokensPerCluster} is ClusterKV's default): C0 = ${clusters.join(', ')}`;
      if (!flags.json) {
        console.log(`trace: ${tracePath} (${manifest.model.layers} layers, ${manifest.model.heads} heads, ${manifest.model.kvHeads} KV heads, d ${manifest.model.headDim}, ${manifest.contextLength} tokens, ${manifest.stepPositions.length} steps, seed ${manifest.seed})`);
        console.log(clusterNote);
      }
      const bar = progressBar('sweep', SWEEP_PROGRESS_UNIT);
      const result = await runSweep(tracePath, { methods: ['full', 'oracle', 'clusterkv'], budgets: [128, 256, 512, 1024], clusters, seed: 0 }, path.join(flags.out, 'sweep'), {
        backend,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      const summaryTable = summarize(sparseLayerRows(result.table));
      const summary = summaryTable.objects() as Record<string, unknown>[];
      const results = path.join(flags.out, 'sweep', 'results.csv');
      if (flags.json) {
        console.log(JSON.stringify({ trace: tracePath, manifest, clusters, clustersNote: clusterNote, backend, cells: result.cells.length, seconds: result.seconds, results, summary }, null, 2));
        return;
      }
      console.log(formatTable(summary, summaryColumns(summaryTable)));
      console.log(`\nmean over the sparse layers (layer >= denseLayers = 2: the first layers are dense, recall 1, for every budgeted method), heads and steps; ${count(result.cells.length, 'cell')} on ${backend} in ${result.seconds.toFixed(1)} s; results: ${results}`);
    });
}
