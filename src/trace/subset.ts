/**
 * Export a subset of a trace (layers, KV heads with their query heads, decode steps), optionally converting
 * the dtype. Reads one layer at a time and streams the result through TraceWriter.
 */
import { basename } from 'node:path';
import { CREATED_BY } from '../version.js';
import { TraceError } from './errors.js';
import { layerTensorNames, type TraceManifest } from './manifest.js';
import { TraceReader } from './reader.js';
import { traceTensorSpecs, TraceWriter } from './writer.js';

export interface ExportOptions {
  /** layers kept, in this order (renumbered 0..n-1); default all */
  layers?: number[];
  /** KV heads kept (query heads follow GQA: KV head g brings query heads g*H/G .. (g+1)*H/G - 1); default all */
  kvHeads?: number[];
  /** the former name of kvHeads (KV heads, not query heads) */
  heads?: number[];
  /** decode step indices kept (ascending after sorting); default all */
  steps?: number[];
  /** dtype of the exported trace; default the source's */
  dtype?: 'F16' | 'F32';
}

/** `what`: the option's name (layers, kvHeads, steps) and what the trace has of it, for messages. */
function checkIndices(src: string, what: [string, string], values: number[] | undefined, count: number, sort: boolean): number[] {
  const [option, noun] = what;
  if (values === undefined) return Array.from({ length: count }, (_, i) => i);
  if (values.length === 0) throw new TraceError(`${src}: export ${option}: the list is empty`);
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v >= count) throw new TraceError(`${src}: export ${option}: ${v} is out of range (the trace has ${noun} 0..${count - 1})`);
  }
  if (new Set(values).size !== values.length) throw new TraceError(`${src}: export ${option}: repeated index in [${values.join(', ')}]`);
  return sort ? [...values].sort((a, b) => a - b) : [...values];
}

/** Rows [outer, inner, d] -> keep `outerKeep` x `innerKeep` rows. data: [outer, inner, d]; returns [|outerKeep|, |innerKeep|, d]. */
function pickRows(data: Float32Array, inner: number, d: number, outerKeep: number[], innerKeep: number[]): Float32Array {
  const out = new Float32Array(outerKeep.length * innerKeep.length * d);
  let o = 0;
  for (const a of outerKeep) {
    for (const b of innerKeep) {
      const from = (a * inner + b) * d;
      out.set(data.subarray(from, from + d), o);
      o += d;
    }
  }
  return out;
}

/** Write the chosen subset of trace `src` to `dest`. Returns the new manifest. */
export async function exportTrace(src: string, dest: string, opts: ExportOptions): Promise<TraceManifest> {
  const reader = await TraceReader.open(src);
  try {
    const m = reader.manifest;
    const { layers: L, heads: H, kvHeads: G, headDim: d } = m.model;
    const T = m.contextLength;
    const S = m.stepPositions.length;
    const layers = checkIndices(src, ['layers', 'layers'], opts.layers, L, false);
    const kvHeads = checkIndices(src, ['kvHeads', 'KV heads'], opts.kvHeads ?? opts.heads, G, true);
    const steps = checkIndices(src, ['steps', 'decode steps'], opts.steps, S, true);
    const dtype = opts.dtype ?? m.dtype;
    if (dtype !== 'F16' && dtype !== 'F32') throw new TraceError(`${src}: export dtype must be F16 or F32, got ${String(dtype)}`);
    const group = H / G;
    const queryHeads = kvHeads.flatMap((g) => Array.from({ length: group }, (_, i) => g * group + i));
    const manifest: TraceManifest = {
      ...m,
      model: { ...m.model, layers: layers.length, heads: queryHeads.length, kvHeads: kvHeads.length },
      stepPositions: steps.map((s) => m.stepPositions[s]),
      dtype,
      createdBy: CREATED_BY,
      exportedFrom: { file: basename(src), sha256: await reader.sha256(), layers, kvHeads, steps },
    };
    const writer = await TraceWriter.create(dest, manifest, traceTensorSpecs(manifest, { withOut: reader.hasOut, withTokens: reader.hasTokens }));
    try {
      for (let i = 0; i < layers.length; i++) {
        const layer = await reader.readLayer(layers[i]);
        const names = layerTensorNames(i);
        const allPositions = Array.from({ length: T }, (_, t) => t);
        // k, v: [G, T, d] -> [G', T, d]; q, out: [S, H, d] -> [S', H', d].
        await writer.write(names.k, pickRows(layer.k, T, d, kvHeads, allPositions));
        await writer.write(names.v, pickRows(layer.v, T, d, kvHeads, allPositions));
        await writer.write(names.q, pickRows(layer.q, H, d, steps, queryHeads));
        if (layer.out) await writer.write(names.out, pickRows(layer.out, H, d, steps, queryHeads));
      }
      const tokens = await reader.readTokens();
      if (tokens) await writer.write('tokens', tokens);
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return manifest;
  } finally {
    await reader.close();
  }
}
