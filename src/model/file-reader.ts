/**
 * Reads one tensor at a time from a checkpoint file at a byte offset, so loading never holds more than one
 * tensor's bytes beyond the weights themselves.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { float16BitsToFloat32 } from '../trace/float16.js';
import { CheckpointError } from './errors.js';

export type StoredDType = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2 };

export class TensorFileReader {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<TensorFileReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw new CheckpointError(path, `cannot open (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const { size } = await handle.stat();
    return new TensorFileReader(path, handle, size);
  }

  /** Exactly `length` bytes at `offset`; a short file is a CheckpointError naming `what`. */
  async bytes(offset: number, length: number, what: string): Promise<Buffer> {
    if (offset + length > this.size) {
      throw new CheckpointError(this.path, `truncated: ${what} needs bytes ${offset}..${offset + length} but the file has ${this.size} bytes`);
    }
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new CheckpointError(this.path, `truncated while reading ${what} at byte ${offset + done}`);
      done += bytesRead;
    }
    return buf;
  }

  /** `count` little-endian values of `dtype` at `offset`, widened to float32. */
  async floats(offset: number, count: number, dtype: StoredDType, what: string): Promise<Float32Array> {
    const buf = await this.bytes(offset, count * DTYPE_BYTES[dtype], what);
    return toFloat32(buf, count, dtype);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Little-endian F32/F16/BF16 bytes -> Float32Array (copies, so the result is aligned). */
export function toFloat32(buf: Buffer, count: number, dtype: StoredDType): Float32Array {
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
    return out;
  }
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  for (let i = 0; i < count; i++) {
    const h = buf.readUInt16LE(i * 2);
    if (dtype === 'BF16') {
      bits[0] = h << 16;
      out[i] = asFloat[0];
    } else {
      out[i] = float16BitsToFloat32(h);
    }
  }
  return out;
}
