/**
 * Checkpoint bytes (F32, F16, BF16, little-endian) -> the engine's storage dtype (f32, or f16 bits), on the
 * host, a block at a time. f16 from BF16 goes through a table of all 65536 patterns (each bf16 value is a
 * float32, rounded to f16 as src/trace/float16.ts does: nearest, ties to even); F16 stays as it is.
 * A finite value that f16 cannot hold (|x| > 65504) is refused, naming the tensor: keeping it in f16 would
 * make it infinite.
 */
import { decodeFloat16, float32ToFloat16Bits } from '../../trace/float16.js';
import type { StorageDType } from '../../gpu/wgsl/engine/storage-dtype.js';
import { CheckpointError } from '../errors.js';
import type { RawRows } from './weight-reader.js';

let bf16ToF16: Uint16Array | undefined;

function bf16Table(): Uint16Array {
  if (!bf16ToF16) {
    bf16ToF16 = new Uint16Array(65536);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let b = 0; b < 65536; b++) {
      u[0] = b << 16;
      bf16ToF16[b] = float32ToFloat16Bits(f[0]);
    }
  }
  return bf16ToF16;
}

const isInfinite16 = (h: number) => (h & 0x7fff) === 0x7c00;

/** The raw rows as `dtype` storage (f32 values, or f16 bit patterns); `what` names the tensor in errors. */
export function toStorage(raw: RawRows, dtype: StorageDType, what: string): Float32Array | Uint16Array {
  const { bytes } = raw;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
  if (raw.dtype === 'F32') {
    const src = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    if (dtype === 'f32') return src;
    const out = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const h = float32ToFloat16Bits(src[i]);
      if (isInfinite16(h) && Number.isFinite(src[i])) throw new CheckpointError(what, `value ${src[i]} is outside f16's range (use f32 weights)`);
      out[i] = h;
    }
    return out;
  }
  const src = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
  if (raw.dtype === 'F16') {
    return dtype === 'f16' ? src : decodeFloat16(src);
  }
  // BF16
  if (dtype === 'f32') {
    const out = new Uint32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
    return new Float32Array(out.buffer);
  }
  const table = bf16Table();
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = table[src[i]];
    if (isInfinite16(h) && (src[i] & 0x7f80) !== 0x7f80) throw new CheckpointError(what, `a bf16 value is outside f16's range (use f32 weights)`);
    out[i] = h;
  }
  return out;
}
