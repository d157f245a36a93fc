/**
 * Whether a checkpoint fits the GPU for the engine, and how fast it can decode: from the checkpoint's
 * configuration alone (no weights are read), the footprint (footprint.ts) at a context and batch against the
 * device's limits, and the bytes bound of a decode step (step-bytes.ts: weights once per step plus each
 * sequence's KV rows) over a read ceiling: measured on this device when it can time kernels, else the one
 * given, else ASSUMED_READ_GBPS, and said which. The bound is a ceiling on tokens/s, not a measurement:
 * the e2e benchmark measures how close the engine gets (`clusterkv e2e --model DIR`).
 *   dense      every layer reads every cached position once per KV head
 *   clusterkv  the first denseLayers layers dense; the others each query head's list: sinks + budget + half
 *              a decode window (the open window's mean length), at ClusterKV's defaults
 */
import { boundAttentionPass, type BoundAttentionShape } from '../../gpu/bound-attention.js';
import { halfRead } from '../../gpu/wgsl/engine/storage-dtype.js';
import { clusterkvParams, promptClustering } from '../../sim/methods/clusterkv/plan.js';
import { createMethod } from '../../sim/methods/index.js';
import { resolveDType, type DTypeChoice } from './engine-model.js';
import { engineFootprint, footprintProblem, type DeviceMemoryLimits, type EngineFootprint } from './footprint.js';
import { ASSUMED_READ_GBPS } from './read-ceiling.js';
import { engineShapeOf, engineShapeProblem, parameterCounts, type EngineShape } from './shape.js';
import { stepBytes } from './step-bytes.js';
import { openWeightReader } from './weight-reader.js';
import { prefillChunkFor } from './prefill.js';

export interface FitRequest {
  path: string;
  /** positions per sequence */
  context: number;
  batch: number;
  weights: DTypeChoice;
  kv: DTypeChoice;
  /** ClusterKV's budget for its bound */
  budget: number;
  /** the device's limits (undefined: no WebGPU device here; the fit is then not judged) */
  limits?: DeviceMemoryLimits;
  /** the read ceiling: measured or given, and where it came from */
  ceiling?: { GBps: number; source: string };
}

export interface DecodeBound {
  bytesPerStep: number;
  /** tokens per second of the whole batch at the ceiling */
  tokensPerSecond: number;
  msPerStep: number;
}

export interface ModelFit {
  model: { name: string; path: string; format: string; stored: string; parameters: number; shape: EngineShape; tied: boolean };
  context: number;
  batch: number;
  dtypes: { weights: string; kv: string };
  /** why the engine cannot run the shape at all */
  shapeProblem?: string;
  footprint: EngineFootprint;
  limits: DeviceMemoryLimits | null;
  /** null when no device was there to judge */
  fits: boolean | null;
  problem?: string;
  ceiling: { GBps: number; source: string };
  dense: DecodeBound;
  clusterkv: DecodeBound & { budget: number; listPerHead: number; sparseLayers: number; boundSpeedup: number };
}

export async function modelFit(r: FitRequest): Promise<ModelFit> {
  const reader = await openWeightReader(r.path);
  const { config: c, source, stored } = reader;
  await reader.close();
  const shape = engineShapeOf(c);
  const weights = resolveDType(r.weights, stored);
  const kv = resolveDType(r.kv, stored);
  const B = r.batch;
  const footprint = engineFootprint({ shape, weights, kv, batch: B, capacity: r.context, tied: c.tiedEmbeddings, prefillChunk: prefillChunkFor(r.context) });
  const problem = r.limits ? footprintProblem(footprint, r.limits) : undefined;
  const ceiling = r.ceiling ?? { GBps: ASSUMED_READ_GBPS, source: `assumed: the H100's measured WGSL read ceiling (${ASSUMED_READ_GBPS} GB/s); --read-gbps gives your card's` };
  // the partials of the attention the engine runs on this device (without one: the flash-decoding kernels')
  const attention: BoundAttentionShape = { H: B * shape.heads, G: B * shape.kvHeads, d: shape.headDim, kv, read: r.limits ? halfRead() : 'unpacked' };
  const [densePass, sparsePass] = [false, true].map((sparse) => (r.limits ? boundAttentionPass(attention, sparse) : boundAttentionPass(attention, sparse, 'wgsl')));
  const dtypes = { weights, kv };
  const bound = (bytes: number): DecodeBound => {
    const ms = bytes / (ceiling.GBps * 1e6);
    return { bytesPerStep: bytes, tokensPerSecond: (1000 * B) / ms, msPerStep: ms };
  };
  const position = r.context - 1;
  const dense = bound(stepBytes(shape, B, { position, attention: 'dense', sparseList: 0, selected: 0, clusters: 0, sparseLayers: 0, splits: { dense: densePass.splits(r.context), sparse: 0 } }, dtypes).total);
  const p = clusterkvParams(createMethod('clusterkv', { budget: r.budget }));
  const sparseLayers = Math.max(0, shape.layers - p.denseLayers);
  const selected = Math.min(r.budget, Math.max(0, r.context - p.sinks));
  const list = Math.min(r.context, Math.min(p.sinks, r.context) + selected + Math.ceil(p.window / 2));
  const clusters = promptClustering(p, Math.max(1, r.context)).clusters;
  const sparse = bound(stepBytes(shape, B, { position, attention: 'sparse', sparseList: list, selected, clusters, sparseLayers, splits: { dense: densePass.splits(r.context), sparse: sparsePass.splits(list) } }, dtypes).total);
  return {
    model: { name: source.name, path: source.path, format: source.format, stored, parameters: parameterCounts(shape).total - (c.tiedEmbeddings ? shape.vocabSize * shape.dim : 0), shape, tied: c.tiedEmbeddings },
    context: r.context,
    batch: B,
    dtypes,
    shapeProblem: engineShapeProblem(shape),
    footprint,
    limits: r.limits ?? null,
    fits: r.limits ? !problem && !engineShapeProblem(shape) : null,
    problem,
    ceiling,
    dense,
    clusterkv: { ...sparse, budget: r.budget, listPerHead: list, sparseLayers, boundSpeedup: dense.bytesPerStep / sparse.bytesPerStep },
  };
}

/** The report as lines for the terminal. */
export function formatModelFit(f: ModelFit): string[] {
  const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
  const s = f.model.shape;
  const rate = (b: DecodeBound) => `${gb(b.bytesPerStep)}/step -> at most ${b.tokensPerSecond.toFixed(1)} tokens/s (${b.msPerStep.toFixed(2)} ms/step)`;
  const lines = [
    `model ${f.model.name} (${f.model.format}, ${f.model.stored}): ${(f.model.parameters / 1e9).toFixed(3)}B parameters; dim ${s.dim}, hidden ${s.hiddenDim}, ${s.layers} layers, ${s.heads} heads, ${s.kvHeads} KV heads, head dim ${s.headDim}, vocab ${s.vocabSize}${f.model.tied ? ', tied head' : ''}`,
    `engine storage: ${f.dtypes.weights} weights, ${f.dtypes.kv} KV cache; ${f.batch} sequence${f.batch === 1 ? '' : 's'} x ${f.context} positions`,
    `needs ${f.footprint.parts} = ${gb(f.footprint.total)}; largest buffer ${f.footprint.largest.what}: ${gb(f.footprint.largest.bytes)}`,
  ];
  if (f.shapeProblem) lines.push(`does NOT run on the engine: ${f.shapeProblem}`);
  if (f.fits === null) lines.push('fit: not judged (no WebGPU device here; run doctor where the model will run)');
  else if (f.fits) {
    const l = f.limits!;
    lines.push(`fits: yes (largest binding ${gb(Math.min(l.maxBufferSize, l.maxStorageBufferBindingSize))}${l.memory ? `, card memory ${gb(l.memory.bytes)} from ${l.memory.source}` : ', card memory unknown: only the buffer limits were checked'})`);
  } else if (f.problem) lines.push(`fits: NO: ${f.problem}`);
  lines.push(`bytes bound at a read ceiling of ${f.ceiling.GBps.toFixed(0)} GB/s (${f.ceiling.source}):`);
  lines.push(`  dense             ${rate(f.dense)}`);
  lines.push(`  clusterkv B=${f.clusterkv.budget}  ${rate(f.clusterkv)}, ${f.clusterkv.boundSpeedup.toFixed(2)}x dense (${f.clusterkv.sparseLayers} sparse layers attend ${f.clusterkv.listPerHead} positions per query head)`);
  return lines;
}
