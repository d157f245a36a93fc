/** `clusterkv info`: a trace's manifest, tensors and per-layer statistics, as a table or JSON. */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { TraceReader, type TraceLayer } from '../../trace/index.js';
import { count, formatTable } from '../table.js';

export interface LayerStats {
  layer: number;
  keyNormMean: number;
  queryNormMean: number;
  valueStd: number;
  min: number;
  max: number;
}

function meanRowNorm(x: Float32Array, d: number): number {
  const rows = x.length / d;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j] * x[r * d + j];
    total += Math.sqrt(s);
  }
  return rows > 0 ? total / rows : 0;
}

function std(x: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length || 1;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return Math.sqrt(v / (x.length || 1));
}

/** Statistics of one layer. k, v: [G, T, d]; q, out: [S, H, d]. min/max over k, v, q and out. */
export function layerStats(layer: number, data: TraceLayer, headDim: number): LayerStats {
  let min = Infinity;
  let max = -Infinity;
  for (const x of [data.k, data.v, data.q, data.out]) {
    if (!x) continue;
    for (let i = 0; i < x.length; i++) {
      if (x[i] < min) min = x[i];
      if (x[i] > max) max = x[i];
    }
  }
  return { layer, keyNormMean: meanRowNorm(data.k, headDim), queryNormMean: meanRowNorm(data.q, headDim), valueStd: std(data.v), min, max };
}

export function register(program: Command): void {
  program
    .command('info')
    .description("show a trace's manifest, tensors and per-layer statistics")
    .argument('<trace>', 'trace .safetensors file')
    .option('--json', 'print JSON instead of tables')
    .action(async (file: string, flags: { json?: boolean }) => {
      const reader = await TraceReader.open(file);
      try {
        const m = reader.manifest;
        const tensors = [...reader.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin }));
        const layers: LayerStats[] = [];
        for (let l = 0; l < m.model.layers; l++) layers.push(layerStats(l, await reader.readLayer(l), m.model.headDim));
        const { size } = await stat(file);
        if (flags.json) {
          console.log(JSON.stringify({ file, bytes: size, manifest: m, tensors, layers }, null, 2));
          return;
        }
        const s = m.source;
        console.log(`${file} (${(size / 2 ** 20).toFixed(1)} MiB): ${m.format} v${m.version}, ${m.createdBy}`);
        console.log(`source: ${s.kind} ${s.name}${m.seed !== undefined ? `, seed ${m.seed}` : ''}`);
        console.log(`model: ${count(m.model.layers, 'layer')}, ${count(m.model.heads, 'head')}, ${count(m.model.kvHeads, 'KV head')}, d ${m.model.headDim}, rope theta ${m.model.ropeTheta}`);
        const steps = m.stepPositions;
        const stepText = steps.length > 6 ? `${steps.slice(0, 3).join(', ')}, ..., ${steps.slice(-2).join(', ')}` : steps.join(', ');
        console.log(`context ${m.contextLength}, prefill ${m.prefillLength}, ${count(steps.length, 'decode step')} at [${stepText}], ${m.dtype}, keys ${m.keys}`);
        console.log(`out: ${reader.hasOut ? 'yes' : 'no'}, tokens: ${reader.hasTokens ? 'yes' : 'no'}\n`);
        console.log(formatTable(tensors.map((t) => ({ ...t, shape: `[${t.shape.join(', ')}]` })), ['name', 'dtype', 'shape', 'bytes']));
        console.log('');
        console.log(formatTable(layers as unknown as Record<string, unknown>[], ['layer', 'keyNormMean', 'queryNormMean', 'valueStd', 'min', 'max']));
      } finally {
        await reader.close();
      }
    });
}
