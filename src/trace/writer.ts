/**
 * Streaming trace writer. The header goes first (every tensor spec is known up front), then tensors in spec
 * order, so a capture can stream layer by layer without holding every layer in memory. It writes to
 * `${path}.partial` and renames on close: a failed or aborted write never leaves a truncated file at `path`
 * and never clobbers an existing good file there before the new one is complete.
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { endianness } from 'node:os';
import { TraceError } from './errors.js';
import { encodeFloat16 } from './float16.js';
import { layerTensorNames, traceManifestSchema, type TraceManifest } from './manifest.js';
import { elementCount, encodeHeader, type TensorEntry, type TensorSpec } from './safetensors.js';

/** One layer of a trace. k, v: [G, T, d]; q, out: [S, H, d] (S decode steps), row-major. */
export interface TraceLayer {
  k: Float32Array;
  v: Float32Array;
  q: Float32Array;
  out?: Float32Array;
}

/** The metadata key under which the manifest JSON is stored. */
export const MANIFEST_KEY = 'trace';

/**
 * The tensors of a trace in the standard order: per layer l: layers.{l}.k [G, T, d], layers.{l}.v [G, T, d],
 * layers.{l}.q [S, H, d], (layers.{l}.out [S, H, d]); then tokens [T] (I32).
 */
export function traceTensorSpecs(manifest: TraceManifest, opts: { withOut: boolean; withTokens: boolean }): TensorSpec[] {
  const { layers, heads, kvHeads, headDim } = manifest.model;
  const T = manifest.contextLength;
  const S = manifest.stepPositions.length;
  const dtype = manifest.dtype;
  const specs: TensorSpec[] = [];
  for (let l = 0; l < layers; l++) {
    const names = layerTensorNames(l);
    specs.push({ name: names.k, dtype, shape: [kvHeads, T, headDim] });
    specs.push({ name: names.v, dtype, shape: [kvHeads, T, headDim] });
    specs.push({ name: names.q, dtype, shape: [S, heads, headDim] });
    if (opts.withOut) specs.push({ name: names.out, dtype, shape: [S, heads, headDim] });
  }
  if (opts.withTokens) specs.push({ name: 'tokens', dtype: 'I32', shape: [T] });
  return specs;
}

/** Validate a manifest, turning zod issues into one TraceError line naming the fields. */
export function checkManifest(file: string, manifest: unknown): TraceManifest {
  const result = traceManifestSchema.safeParse(manifest);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new TraceError(`${file}: invalid trace manifest: ${problems.join('; ')}`);
}

function describe(data: unknown): string {
  return data === null || typeof data !== 'object' ? typeof data : (data as object).constructor.name;
}

export class TraceWriter {
  private next = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly manifest: TraceManifest,
    private readonly entries: TensorEntry[],
    private readonly dataStart: number,
    private readonly handle: FileHandle,
    private readonly partialPath: string,
  ) {}

  /** Start writing a trace of `specs` (in the order they will be written) to `path`. */
  static async create(path: string, manifest: TraceManifest, specs: TensorSpec[]): Promise<TraceWriter> {
    if (endianness() !== 'LE') throw new TraceError('trace files are little-endian; this host is big-endian');
    const checked = checkManifest(path, manifest);
    const { bytes, entries } = encodeHeader(specs, { [MANIFEST_KEY]: JSON.stringify(checked) });
    const partialPath = `${path}.partial`;
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(partialPath, 'w');
    try {
      await handle.write(bytes, 0, bytes.length, 0);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(partialPath, { force: true });
      throw err;
    }
    return new TraceWriter(path, checked, entries, bytes.length, handle, partialPath);
  }

  /**
   * Write the next tensor. `data` is row-major with the spec's element count: Float32Array for F16/F32 specs
   * (converted to half precision for F16), Int32Array for I32. Tensors must come in spec order.
   */
  async write(name: string, data: Float32Array | Int32Array): Promise<void> {
    if (this.closed) throw new TraceError(`${this.path}: write of ${name} after the writer was closed or aborted`);
    const entry = this.entries[this.next];
    if (!entry) throw new TraceError(`${this.path}: write of ${name}, but every tensor has been written already`);
    if (entry.name !== name) throw new TraceError(`${this.path}: tensors must be written in order: expected ${entry.name}, got ${name}`);
    const count = elementCount(entry.shape);
    if (data.length !== count) {
      throw new TraceError(`${this.path}: tensor ${name}: expected ${count} elements for shape [${entry.shape.join(', ')}], got ${data.length}`);
    }
    let bytes: Uint8Array;
    if (entry.dtype === 'I32') {
      if (!(data instanceof Int32Array)) throw new TraceError(`${this.path}: tensor ${name} is I32 and needs an Int32Array, got ${describe(data)}`);
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      if (!(data instanceof Float32Array)) throw new TraceError(`${this.path}: tensor ${name} is ${entry.dtype} and needs a Float32Array, got ${describe(data)}`);
      const stored = entry.dtype === 'F16' ? encodeFloat16(data) : data;
      const bad = firstNonFinite(stored, entry.dtype === 'F16');
      if (bad >= 0) {
        const why = Number.isFinite(data[bad]) ? `${data[bad]} overflows ${entry.dtype}; F32 holds it` : String(data[bad]);
        throw new TraceError(`${this.path}: tensor ${name}: non-finite value at element ${bad} (${why}); nothing was written to ${this.path}`);
      }
      bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    }
    let done = 0;
    const position = this.dataStart + entry.begin;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, position + done);
      done += bytesWritten;
    }
    this.next += 1;
  }

  /** Finish: flush, then move the complete file into place. Fails (and cleans up) if a tensor is missing. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.next < this.entries.length) {
      const missing = this.entries.slice(this.next).map((e) => e.name);
      await this.abort();
      throw new TraceError(`${this.path}: closed with ${missing.length} tensor(s) not written (next: ${missing[0]}); nothing was written to ${this.path}`);
    }
    this.closed = true;
    try {
      await this.handle.datasync();
      await this.handle.close();
      await rename(this.partialPath, this.path);
    } catch (err) {
      await rm(this.partialPath, { force: true });
      throw err;
    }
  }

  /** Give up: close and delete the partial file; the target path is left as it was. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.partialPath, { force: true });
  }
}

/** Index of the first NaN/Inf, or -1. For F16 the data are half bit patterns (exponent all ones = non-finite). */
function firstNonFinite(values: Float32Array | Uint16Array, half: boolean): number {
  if (half) {
    for (let i = 0; i < values.length; i++) if ((values[i] & 0x7c00) === 0x7c00) return i;
    return -1;
  }
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Write a whole trace held in memory. layers[l]: k, v [G, T, d]; q, out [S, H, d]; tokens [T]. */
export async function writeTrace(path: string, manifest: TraceManifest, layers: TraceLayer[], tokens?: Int32Array): Promise<void> {
  if (layers.length !== manifest.model.layers) {
    throw new TraceError(`${path}: manifest says ${manifest.model.layers} layers, got ${layers.length}`);
  }
  const withOut = layers.length > 0 && layers[0].out !== undefined;
  if (layers.some((l) => (l.out !== undefined) !== withOut)) throw new TraceError(`${path}: either every layer has out or none does`);
  const writer = await TraceWriter.create(path, manifest, traceTensorSpecs(manifest, { withOut, withTokens: tokens !== undefined }));
  try {
    for (let l = 0; l < layers.length; l++) {
      const names = layerTensorNames(l);
      await writer.write(names.k, layers[l].k);
      await writer.write(names.v, layers[l].v);
      await writer.write(names.q, layers[l].q);
      const out = layers[l].out;
      if (out) await writer.write(names.out, out);
    }
    if (tokens) await writer.write('tokens', tokens);
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
