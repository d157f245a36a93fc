/**
 * Lazy trace reader: opening reads and validates the header only; tensors are read one at a time at their byte
 * offsets through a file handle (a 32K trace of an 8B model is several GB, never read whole).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { TraceError } from './errors.js';
import { decodeFloat16 } from './float16.js';
import { TRACE_FORMAT, TRACE_VERSION, layerTensorNames, type TraceManifest } from './manifest.js';
import { readContainerHeader, readExactly, type ContainerHeader, type TensorEntry } from './safetensors.js';
import { MANIFEST_KEY, checkManifest, traceTensorSpecs, type TraceLayer } from './writer.js';

export class TraceReader {
  private open = true;

  private constructor(
    readonly path: string,
    readonly manifest: TraceManifest,
    readonly tensors: ReadonlyMap<string, TensorEntry>,
    readonly hasOut: boolean,
    readonly hasTokens: boolean,
    private readonly dataStart: number,
    private readonly handle: FileHandle,
  ) {}

  /** Open a trace: validates the container, the manifest and every tensor's dtype and shape against it. */
  static async open(path: string): Promise<TraceReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${(err as Error).message})`;
      throw new TraceError(`${path}: ${why}`);
    }
    try {
      // a folder opens fine on Linux and fails at the first read (EISDIR): say so up front
      if (!(await handle.stat()).isFile()) throw new TraceError(`${path}: is a folder or device, not a trace file (.safetensors)`);
      const header = await readContainerHeader(handle, path);
      const { manifest, hasOut, hasTokens } = validateTrace(path, header);
      return new TraceReader(path, manifest, header.tensors, hasOut, hasTokens, header.dataStart, handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Read one tensor: F16 is widened to Float32Array; NaN or Inf anywhere is an error naming the tensor. */
  async readTensor(name: string): Promise<Float32Array | Int32Array> {
    if (!this.open) throw new TraceError(`${this.path}: reader is closed`);
    const entry = this.tensors.get(name);
    if (!entry) throw new TraceError(`${this.path}: no tensor named ${name}`);
    const bytes = await readExactly(this.handle, this.path, this.dataStart + entry.begin, entry.end - entry.begin);
    if (entry.dtype === 'I32') return new Int32Array(bytes.buffer, 0, bytes.length / 4);
    const values = entry.dtype === 'F16' ? decodeFloat16(new Uint16Array(bytes.buffer, 0, bytes.length / 2)) : new Float32Array(bytes.buffer, 0, bytes.length / 4);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new TraceError(`${this.path}: tensor ${name} holds a non-finite value (${values[i]}) at element ${i} of shape [${entry.shape.join(', ')}]`);
      }
    }
    return values;
  }

  private async readFloat(name: string): Promise<Float32Array> {
    return (await this.readTensor(name)) as Float32Array;
  }

  /** One layer: k, v [G, T, d]; q, out [S, H, d]. */
  async readLayer(layer: number): Promise<TraceLayer> {
    const L = this.manifest.model.layers;
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) {
      throw new TraceError(`${this.path}: layer ${layer} out of range (the trace has layers 0..${L - 1})`);
    }
    const names = layerTensorNames(layer);
    const k = await this.readFloat(names.k);
    const v = await this.readFloat(names.v);
    const q = await this.readFloat(names.q);
    const out = this.hasOut ? await this.readFloat(names.out) : undefined;
    return out ? { k, v, q, out } : { k, v, q };
  }

  /** Token ids [T], when the trace has them. */
  async readTokens(): Promise<Int32Array | undefined> {
    return this.hasTokens ? ((await this.readTensor('tokens')) as Int32Array) : undefined;
  }

  /** SHA-256 (hex) of the whole file, streamed. */
  async sha256(): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.handle.close();
  }
}

/** Check the manifest in the header's metadata and every tensor against it. */
export function validateTrace(path: string, header: ContainerHeader): { manifest: TraceManifest; hasOut: boolean; hasTokens: boolean } {
  const text = header.metadata[MANIFEST_KEY];
  if (text === undefined) {
    throw new TraceError(`${path}: missing trace manifest: header __metadata__ has no "${MANIFEST_KEY}" entry (not a clusterkv trace?)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TraceError(`${path}: trace manifest (__metadata__.${MANIFEST_KEY}) is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw === 'object' && raw !== null) {
    const { format, version } = raw as Record<string, unknown>;
    if (format !== TRACE_FORMAT) throw new TraceError(`${path}: manifest field format: expected "${TRACE_FORMAT}", found ${JSON.stringify(format)}`);
    if (version !== TRACE_VERSION) throw new TraceError(`${path}: unsupported trace version ${JSON.stringify(version)} (this reader supports version ${TRACE_VERSION})`);
  }
  const manifest = checkManifest(path, raw);
  // the tensor table bounds what the manifest may claim: a lie of 2^31 layers must not build 2^31 specs
  const layerTensors = [...header.tensors.keys()].filter((n) => /^layers\.\d+\.(k|v|q|out)$/.test(n)).length;
  if (manifest.model.layers * 3 > layerTensors) {
    throw new TraceError(`${path}: manifest model.layers is ${manifest.model.layers}, but the file holds ${layerTensors} layer tensors (3 or 4 per layer)`);
  }
  const hasOut = header.tensors.has(layerTensorNames(0).out);
  const hasTokens = header.tensors.has('tokens');
  const expected = traceTensorSpecs(manifest, { withOut: hasOut, withTokens: hasTokens });
  for (const spec of expected) {
    const found = header.tensors.get(spec.name);
    if (!found) throw new TraceError(`${path}: missing tensor ${spec.name} (${spec.dtype} [${spec.shape.join(', ')}]) that the manifest implies`);
    if (found.dtype !== spec.dtype) throw new TraceError(`${path}: tensor ${spec.name}: dtype ${found.dtype} disagrees with the manifest (expected ${spec.dtype})`);
    if (found.shape.length !== spec.shape.length || found.shape.some((n, i) => n !== spec.shape[i])) {
      throw new TraceError(`${path}: tensor ${spec.name}: shape [${found.shape.join(', ')}] disagrees with the manifest (expected [${spec.shape.join(', ')}])`);
    }
  }
  if (header.tensors.size !== expected.length) {
    const known = new Set(expected.map((s) => s.name));
    const extra = [...header.tensors.keys()].filter((n) => !known.has(n));
    throw new TraceError(`${path}: unexpected tensor(s) ${extra.join(', ')} (not part of a v1 trace with ${manifest.model.layers} layers)`);
  }
  return { manifest, hasOut, hasTokens };
}
