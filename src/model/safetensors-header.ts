/**
 * The Hugging Face safetensors container as checkpoints use it: u64 little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the tensor bytes.
 * Only the header is read here; tensors are read one at a time through TensorFileReader.
 */
import { CheckpointError } from './errors.js';
import { DTYPE_BYTES, type StoredDType, type TensorFileReader } from './file-reader.js';

export interface CheckpointTensor {
  name: string;
  dtype: StoredDType;
  shape: number[];
  /** absolute byte offset in the file */
  offset: number;
  bytes: number;
}

const MAX_HEADER = 100_000_000;

export async function readSafetensorsHeader(reader: TensorFileReader): Promise<Map<string, CheckpointTensor>> {
  const file = reader.path;
  const prefix = await reader.bytes(0, 8, 'the 8-byte header length');
  const length = Number(prefix.readBigUInt64LE(0));
  if (length <= 0 || length > MAX_HEADER || 8 + length > reader.size) {
    throw new CheckpointError(file, `not a safetensors file or truncated: header length ${length}, file size ${reader.size}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse((await reader.bytes(8, length, 'the JSON header')).toString('utf8'));
  } catch (err) {
    throw new CheckpointError(file, `safetensors header is not valid JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + length;
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!entry || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets) || typeof entry.dtype !== 'string') {
      throw new CheckpointError(file, `tensor ${name}: header entry lacks dtype, shape or data_offsets`);
    }
    if (!(entry.dtype in DTYPE_BYTES)) throw new CheckpointError(file, `tensor ${name}: dtype ${entry.dtype} is not supported (F32, F16, BF16)`);
    const dtype = entry.dtype as StoredDType;
    const [begin, end] = entry.data_offsets;
    if (entry.data_offsets.length !== 2 || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
      throw new CheckpointError(file, `tensor ${name}: data_offsets ${JSON.stringify(entry.data_offsets)} are not two offsets 0 <= begin <= end`);
    }
    if (!entry.shape.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new CheckpointError(file, `tensor ${name}: shape ${JSON.stringify(entry.shape)} must hold non-negative integers`);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new CheckpointError(file, `tensor ${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${entry.shape.join(', ')}] ${dtype} needs ${count * DTYPE_BYTES[dtype]}`);
    }
    if (dataStart + end > reader.size) {
      throw new CheckpointError(file, `truncated: tensor ${name} ends at byte ${dataStart + end}, the file has ${reader.size} bytes`);
    }
    tensors.set(name, { name, dtype, shape: entry.shape, offset: dataStart + begin, bytes: end - begin });
  }
  return tensors;
}
