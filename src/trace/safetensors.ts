/**
 * The safetensors container, as Hugging Face defines it: an 8-byte little-endian header length N, N bytes of
 * JSON header, then the raw little-endian tensor bytes. The header maps each tensor name to
 * { dtype, shape, data_offsets: [begin, end] } (offsets relative to the data section) and may hold
 * "__metadata__" (a string -> string map). We pad the header with spaces to a multiple of 8 bytes and pack
 * tensors back to back with no gaps, as Python's safetensors requires.
 */
import type { FileHandle } from 'node:fs/promises';
import { TraceError } from './errors.js';

export type TensorDType = 'F16' | 'F32' | 'I32';
export const DTYPE_BYTES: Readonly<Record<TensorDType, number>> = { F16: 2, F32: 4, I32: 4 };

export interface TensorSpec {
  name: string;
  dtype: TensorDType;
  shape: number[];
}

/** A tensor of a container; begin/end are byte offsets relative to the start of the data section. */
export interface TensorEntry extends TensorSpec {
  begin: number;
  end: number;
}

export interface ContainerHeader {
  /** N, the JSON header's length in bytes (padding included) */
  headerLength: number;
  /** absolute file offset of the data section: 8 + N */
  dataStart: number;
  /** the string map under "__metadata__" ({} when absent) */
  metadata: Record<string, string>;
  /** tensors in file order */
  tensors: Map<string, TensorEntry>;
}

/** Refuse headers larger than this (Hugging Face's own limit): a corrupt length must not allocate gigabytes. */
export const MAX_HEADER_BYTES = 100_000_000;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensorByteSize(spec: TensorSpec): number {
  return elementCount(spec.shape) * DTYPE_BYTES[spec.dtype];
}

/**
 * Lay out `specs` back to back in the given order and build the header bytes (8-byte length prefix included,
 * JSON padded with spaces to a multiple of 8).
 */
export function encodeHeader(specs: readonly TensorSpec[], metadata: Record<string, string>): { bytes: Uint8Array; entries: TensorEntry[]; dataBytes: number } {
  const json: Record<string, unknown> = { __metadata__: metadata };
  const entries: TensorEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const spec of specs) {
    if (spec.name === '__metadata__' || seen.has(spec.name)) throw new TraceError(`tensor name ${JSON.stringify(spec.name)} is reserved or repeated`);
    if (!(spec.dtype in DTYPE_BYTES)) throw new TraceError(`tensor ${spec.name}: unsupported dtype ${String(spec.dtype)} (expected F16, F32 or I32)`);
    if (!spec.shape.every((n) => Number.isInteger(n) && n >= 0)) throw new TraceError(`tensor ${spec.name}: shape [${spec.shape.join(', ')}] must hold non-negative integers`);
    seen.add(spec.name);
    const end = offset + tensorByteSize(spec);
    entries.push({ ...spec, shape: [...spec.shape], begin: offset, end });
    json[spec.name] = { dtype: spec.dtype, shape: spec.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const text = JSON.stringify(json);
  const raw = Buffer.from(text, 'utf8');
  const padded = Math.ceil(raw.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(raw, 8);
  bytes.fill(0x20, 8 + raw.length);
  return { bytes, entries, dataBytes: offset };
}

/**
 * The header length N from the file's first 8 bytes, checked against the file size.
 * `prefix` holds the first min(8, fileSize) bytes of the file.
 */
export function headerLengthFromPrefix(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize === 0) throw new TraceError(`${file}: empty file (expected a safetensors trace)`);
  if (fileSize < 8 || prefix.length < 8) throw new TraceError(`${file}: truncated header: the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) throw new TraceError(`${file}: header length ${n} runs past the end of the file (${fileSize} bytes, so at most ${fileSize - 8})`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new TraceError(`${file}: header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  if (n < 2n) throw new TraceError(`${file}: header length ${n} is too small for a JSON header`);
  return Number(n);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Parse and validate the JSON header (`json` = the N header bytes) of a file of `fileSize` bytes: entries well
 * formed, each tensor's byte size = product(shape) x dtype size, the data section fully covered by tensors laid
 * back to back with no gaps or overlaps, and exactly as long as the file's remaining bytes.
 */
export function parseHeader(file: string, json: Uint8Array, fileSize: number): ContainerHeader {
  const headerLength = json.length;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.length).toString('utf8'));
  } catch (err) {
    throw new TraceError(`${file}: header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new TraceError(`${file}: header must be a JSON object, found ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);

  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        throw new TraceError(`${file}: header field __metadata__ must map strings to strings`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    if (!isPlainObject(value)) throw new TraceError(`${file}: header entry for tensor ${name} must be an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
      throw new TraceError(`${file}: tensor ${name}: dtype ${JSON.stringify(dtype)} is not supported (expected F16, F32 or I32)`);
    }
    if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new TraceError(`${file}: tensor ${name}: shape ${JSON.stringify(shape)} must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((n) => Number.isSafeInteger(n))) {
      throw new TraceError(`${file}: tensor ${name}: data_offsets ${JSON.stringify(offsets)} must be two integers [begin, end]`);
    }
    tensors.push({ name, dtype: dtype as TensorDType, shape: shape as number[], begin: offsets[0] as number, end: offsets[1] as number });
  }

  for (const t of tensors) {
    if (t.begin < 0 || t.end < t.begin) throw new TraceError(`${file}: tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] out of range (need 0 <= begin <= end)`);
    const expected = tensorByteSize(t);
    if (t.end - t.begin !== expected) {
      throw new TraceError(`${file}: tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] span ${t.end - t.begin} bytes, but ${t.dtype} [${t.shape.join(', ')}] needs ${expected}`);
    }
  }
  // Truncation first: when the tensors need more bytes than the file has, no single offset is to blame.
  const needed = tensors.reduce((sum, t) => sum + (t.end - t.begin), 0);
  if (needed > dataSize) {
    throw new TraceError(`${file}: truncated body: the tensors need ${needed} bytes of data after the header, the file has ${dataSize}`);
  }
  for (const t of tensors) {
    if (t.end > dataSize) throw new TraceError(`${file}: tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] out of range (the data section has ${dataSize} bytes)`);
  }
  const ordered = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (let i = 0; i < ordered.length; i++) {
    const t = ordered[i];
    if (t.begin < cursor) {
      throw new TraceError(`${file}: tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] overlap tensor ${ordered[i - 1].name} (which ends at ${cursor})`);
    }
    if (t.begin > cursor) {
      throw new TraceError(`${file}: tensor ${t.name}: data_offsets begin at ${t.begin}, leaving a gap after byte ${cursor} (tensors must be packed back to back)`);
    }
    cursor = t.end;
  }
  if (cursor !== dataSize) {
    throw new TraceError(`${file}: ${dataSize - cursor} trailing bytes after the last tensor (data section has ${dataSize} bytes, tensors end at ${cursor})`);
  }
  return { headerLength, dataStart, metadata, tensors: new Map(ordered.map((t) => [t.name, t])) };
}

/** Read exactly `length` bytes at `position`, or fail naming the file. */
export async function readExactly(handle: FileHandle, file: string, position: number, length: number): Promise<Uint8Array> {
  // A fresh Uint8Array (not a pooled Buffer) so that its buffer starts at offset 0 and typed views stay aligned.
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(bytes, done, length - done, position + done);
    if (bytesRead === 0) throw new TraceError(`${file}: unexpected end of file at byte ${position + done} (wanted ${length} bytes from ${position})`);
    done += bytesRead;
  }
  return bytes;
}

/** Read and validate the container header of an open file. */
export async function readContainerHeader(handle: FileHandle, file: string): Promise<ContainerHeader> {
  const { size } = await handle.stat();
  const prefix = size === 0 ? new Uint8Array(0) : await readExactly(handle, file, 0, Math.min(8, size));
  const headerLength = headerLengthFromPrefix(file, prefix, size);
  const json = await readExactly(handle, file, 8, headerLength);
  return parseHeader(file, json, size);
}
