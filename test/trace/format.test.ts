/** Trace format v1: container, writer, lazy reader, F16, validation of malformed files. */
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  TRACE_FORMAT,
  TraceError,
  TraceReader,
  TraceWriter,
  decodeFloat16,
  encodeFloat16,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  traceTensorSpecs,
  writeTrace,
  type TraceLayer,
  type TraceManifest,
} from '../../src/trace/index.js';
import { VERSION } from '../../src/version.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ckv-trace-'));

/** A tiny manifest: L layers, H 2, G 1, d 4, T 8, S 2 steps at 6, 7. */
function tinyManifest(dtype: 'F16' | 'F32', layers = 2): TraceManifest {
  return {
    format: TRACE_FORMAT,
    version: 1,
    source: { kind: 'import', name: 'test' },
    model: { layers, heads: 2, kvHeads: 1, headDim: 4, ropeTheta: 10000 },
    keys: 'post-rope',
    contextLength: 8,
    prefillLength: 6,
    stepPositions: [6, 7],
    dtype,
    seed: 3,
    createdBy: 'test',
  };
}

/** Deterministic test values (no randomness needed): a spread of magnitudes and signs. */
function values(n: number, salt: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + salt) * (1 + ((i * 7 + salt) % 13)) * 0.37);
}

function tinyLayers(layers = 2, withOut = true): TraceLayer[] {
  return Array.from({ length: layers }, (_, l) => ({
    k: values(1 * 8 * 4, 10 * l + 1),
    v: values(1 * 8 * 4, 10 * l + 2),
    q: values(2 * 2 * 4, 10 * l + 3),
    ...(withOut ? { out: values(2 * 2 * 4, 10 * l + 4) } : {}),
  }));
}

async function writeTiny(file: string, dtype: 'F16' | 'F32' = 'F32'): Promise<void> {
  await writeTrace(file, tinyManifest(dtype), tinyLayers(), Int32Array.from({ length: 8 }, (_, i) => 100 + i));
}

/** Split a container into its header JSON and data bytes (independent of the library's parser). */
function splitFile(file: string): { header: Record<string, any>; data: Buffer } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), data: bytes.subarray(8 + n) };
}

/** Assemble a container from a header object and data bytes (padded like Hugging Face's writer). */
function joinFile(file: string, header: Record<string, unknown>, data: Buffer): void {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([prefix, Buffer.from(json), data]));
}

async function openError(file: string): Promise<TraceError> {
  try {
    const r = await TraceReader.open(file);
    await r.close();
  } catch (err) {
    expect(err).toBeInstanceOf(TraceError);
    const e = err as TraceError;
    expect(e.name).toBe('TraceError');
    expect(e.message).toContain(file);
    return e;
  }
  throw new Error(`expected ${file} to be rejected`);
}

describe('float16', () => {
  it('converts known values', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // halfway to the next binade: ties to even = Infinity
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: even = 0
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(Infinity)).toBe(0x7c00);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
    expect(float16BitsToFloat32(0x3555)).toBeCloseTo(0.333251953125, 12);
  });

  it('round-trips every half value and rounds every midpoint to even', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const nudge = (x: number, dir: 1 | -1) => {
      f32[0] = x;
      u32[0] += dir; // next float32 away from / towards zero for positive x
      return f32[0];
    };
    for (let b = 0; b < 0x7c00; b++) {
      const x = float16BitsToFloat32(b);
      expect(float32ToFloat16Bits(x)).toBe(b);
      expect(float32ToFloat16Bits(-x)).toBe(b | 0x8000);
      if (b === 0x7bff) continue; // the largest finite half: overflow is checked with the known values
      const mid = (x + float16BitsToFloat32(b + 1)) / 2; // exact in float32 (12 significant bits)
      const even = b % 2 === 0 ? b : b + 1;
      if (float32ToFloat16Bits(mid) !== even || float32ToFloat16Bits(nudge(mid, 1)) !== b + 1 || (mid > 0 && float32ToFloat16Bits(nudge(mid, -1)) !== b)) {
        throw new Error(`rounding wrong near half 0x${b.toString(16)}`);
      }
    }
  });

  it('encodes and decodes arrays', () => {
    const x = Float32Array.from([0, 1, -1, 0.1, 1000.5, -3e-6]);
    const y = decodeFloat16(encodeFloat16(x));
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -24);
  });
});

describe('round trip', () => {
  for (const dtype of ['F32', 'F16'] as const) {
    it(`writes and reads ${dtype}`, async () => {
      const file = path.join(tmp(), 't.safetensors');
      const layers = tinyLayers();
      const tokens = Int32Array.from([5, -1, 7, 2 ** 30, 0, 1, 2, 3]);
      await writeTrace(file, tinyManifest(dtype), layers, tokens);
      const bytes = readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      expect(n % 8).toBe(0); // header padded so tensor data stays aligned
      const r = await TraceReader.open(file);
      expect(r.manifest).toEqual(tinyManifest(dtype));
      expect(r.hasOut).toBe(true);
      expect(r.hasTokens).toBe(true);
      expect([...r.tensors.keys()]).toEqual(traceTensorSpecs(r.manifest, { withOut: true, withTokens: true }).map((s) => s.name));
      for (let l = 0; l < layers.length; l++) {
        const got = await r.readLayer(l);
        for (const key of ['k', 'v', 'q', 'out'] as const) {
          const want = layers[l][key]!;
          const have = got[key]!;
          expect(have).toBeInstanceOf(Float32Array);
          expect(have.length).toBe(want.length);
          for (let i = 0; i < want.length; i++) {
            const tol = dtype === 'F32' ? 0 : Math.abs(want[i]) * 2 ** -11 + 2 ** -24;
            if (Math.abs(have[i] - want[i]) > tol) throw new Error(`${dtype} layer ${l} ${key}[${i}]: ${have[i]} vs ${want[i]}`);
          }
        }
      }
      expect(Array.from((await r.readTensor('tokens')) as Int32Array)).toEqual(Array.from(tokens));
      expect(await r.sha256()).toMatch(/^[0-9a-f]{64}$/);
      await expect(r.readLayer(2)).rejects.toThrow(/layer 2 out of range/);
      await expect(r.readLayer(-1)).rejects.toThrow(TraceError);
      await r.close();
    });
  }

  it('writes traces without out and tokens', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTrace(file, tinyManifest('F32'), tinyLayers(2, false));
    const r = await TraceReader.open(file);
    expect(r.hasOut).toBe(false);
    expect(r.hasTokens).toBe(false);
    expect((await r.readLayer(1)).out).toBeUndefined();
    await r.close();
  });
});

describe('lazy reading', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads only the bytes of the requested layer', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const probe = await open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const spy = vi.spyOn(proto, 'read');
    const r = await TraceReader.open(file);
    const headerEnd = 8 + Number(readFileSync(file).readBigUInt64LE(0));
    const headerReads = spy.mock.calls.map((c) => [c[3] as number, (c[3] as number) + (c[2] as number)]);
    expect(headerReads.every(([, end]) => end <= headerEnd)).toBe(true);
    spy.mockClear();

    await r.readLayer(1);
    const ranges = spy.mock.calls.map((c) => [c[3] as number, (c[3] as number) + (c[2] as number)] as const).sort((a, b) => a[0] - b[0]);
    const wanted = ['layers.1.k', 'layers.1.v', 'layers.1.q', 'layers.1.out'].map((name) => {
      const t = r.tensors.get(name)!;
      return [headerEnd + t.begin, headerEnd + t.end] as const;
    });
    expect(ranges).toEqual(wanted);
    await r.close();
  });
});

describe('writer', () => {
  it('refuses tensors out of order or of the wrong length or type, and leaves no file on abort', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const m = tinyManifest('F32');
    const w = await TraceWriter.create(file, m, traceTensorSpecs(m, { withOut: false, withTokens: true }));
    await expect(w.write('layers.0.v', values(32, 1))).rejects.toThrow(/expected layers\.0\.k, got layers\.0\.v/);
    await expect(w.write('layers.0.k', values(31, 1))).rejects.toThrow(/expected 32 elements .* got 31/);
    await expect(w.write('layers.0.k', new Int32Array(32))).rejects.toThrow(/needs a Float32Array/);
    const nan = values(32, 1);
    nan[5] = NaN;
    await expect(w.write('layers.0.k', nan)).rejects.toThrow(/non-finite value at element 5/);
    await w.write('layers.0.k', values(32, 1));
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(true);
    await w.abort();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it('fails close when tensors are missing, leaving no file', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const m = tinyManifest('F32');
    const w = await TraceWriter.create(file, m, traceTensorSpecs(m, { withOut: false, withTokens: false }));
    await w.write('layers.0.k', values(32, 1));
    await expect(w.close()).rejects.toThrow(/5 tensor\(s\) not written \(next: layers\.0\.v\)/);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  it('refuses F16 overflow', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const layers = tinyLayers();
    layers[0].q[3] = 70000;
    await expect(writeTrace(file, tinyManifest('F16'), layers)).rejects.toThrow(/layers\.0\.q: non-finite value at element 3 \(70000 overflows F16; F32 holds it\)/);
    expect(existsSync(file)).toBe(false);
  });

  it('leaves an existing good file untouched when a later write to it fails', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const before = readFileSync(file);
    const layers = tinyLayers();
    layers[1].v[0] = NaN;
    await expect(writeTrace(file, tinyManifest('F32'), layers)).rejects.toThrow(TraceError);
    const m = tinyManifest('F32');
    const w = await TraceWriter.create(file, m, traceTensorSpecs(m, { withOut: false, withTokens: false }));
    await w.write('layers.0.k', values(32, 9));
    await w.abort();
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}.partial`)).toBe(false);
    const r = await TraceReader.open(file);
    await r.close();
  });

  it('refuses an invalid manifest, naming the field', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const m = { ...tinyManifest('F32'), model: { layers: 2, heads: 3, kvHeads: 2, headDim: 4, ropeTheta: 10000 } };
    await expect(TraceWriter.create(file, m, [])).rejects.toThrow(/model\.heads: heads \(3\) must be a multiple of kvHeads \(2\)/);
  });
});

describe('malformed traces', () => {
  it('empty file', async () => {
    const file = path.join(tmp(), 'e.safetensors');
    writeFileSync(file, Buffer.alloc(0));
    expect((await openError(file)).message).toMatch(/empty file/);
  });

  it('missing file', async () => {
    expect((await openError(path.join(tmp(), 'nope.safetensors'))).message).toMatch(/no such file/);
  });

  it('truncated header (fewer than 8 bytes)', async () => {
    const file = path.join(tmp(), 't.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3, 4, 5]));
    expect((await openError(file)).message).toMatch(/truncated header: the file has 5 bytes/);
  });

  it('header length past the end of the file', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(bytes.length));
    writeFileSync(file, bytes);
    expect((await openError(file)).message).toMatch(new RegExp(`header length ${bytes.length} runs past the end of the file`));
    // cut inside the JSON header: same diagnosis
    const cut = path.join(tmp(), 'cut.safetensors');
    writeFileSync(cut, readFileSync(file).subarray(0, 40));
    expect((await openError(cut)).message).toMatch(/runs past the end of the file \(40 bytes/);
  });

  it('bad JSON header', async () => {
    const file = path.join(tmp(), 't.safetensors');
    const json = Buffer.from('{"a": [1, 2}    ');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([prefix, json]));
    expect((await openError(file)).message).toMatch(/header is not valid JSON/);
  });

  it('truncated body', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    expect((await openError(file)).message).toMatch(/truncated body: the tensors need \d+ bytes of data after the header, the file has \d+/);
  });

  it('trailing bytes', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(4)]));
    expect((await openError(file)).message).toMatch(/4 trailing bytes/);
  });

  it('offsets out of range', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    const [b, e] = header['layers.1.out'].data_offsets;
    header['layers.1.out'].data_offsets = [b + 4096, e + 4096];
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/tensor layers\.1\.out: data_offsets \[\d+, \d+\] out of range \(the data section has \d+ bytes\)/);
  });

  it('overlapping offsets', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header['layers.0.v'].data_offsets = header['layers.0.k'].data_offsets;
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/data_offsets \[0, 128\] overlap tensor layers\.0\.(k|v)/);
  });

  it('a gap between tensors', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    // move tokens (the last tensor) 8 bytes later and lengthen the data by 8 bytes: sizes stay right, a gap opens
    const tokens = header.tokens.data_offsets;
    header.tokens.data_offsets = [tokens[0] + 8, tokens[1] + 8];
    joinFile(file, header, Buffer.concat([data, Buffer.alloc(8)]));
    expect((await openError(file)).message).toMatch(/tensor tokens: data_offsets begin at \d+, leaving a gap after byte \d+/);
  });

  it('byte size disagreeing with shape and dtype', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header['layers.0.q'].shape = [2, 2, 3];
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/tensor layers\.0\.q: data_offsets \[\d+, \d+\] span 64 bytes, but F32 \[2, 2, 3\] needs 48/);
  });

  it('dtype disagreeing with the manifest', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header['layers.1.k'].dtype = 'I32';
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/tensor layers\.1\.k: dtype I32 disagrees with the manifest \(expected F32\)/);
  });

  it('shape disagreeing with the manifest', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header['layers.0.k'].shape = [1, 4, 8];
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/tensor layers\.0\.k: shape \[1, 4, 8\] disagrees with the manifest \(expected \[1, 8, 4\]\)/);
  });

  it('unknown version', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header.__metadata__.trace = JSON.stringify({ ...JSON.parse(header.__metadata__.trace), version: 2 });
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/unsupported trace version 2 \(this reader supports version 1\)/);
  });

  it('missing manifest', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    delete header.__metadata__;
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/missing trace manifest: header __metadata__ has no "trace" entry/);
  });

  it('a manifest field of the wrong type', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    const m = JSON.parse(header.__metadata__.trace);
    m.model.headDim = '4';
    header.__metadata__.trace = JSON.stringify(m);
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/invalid trace manifest: model\.headDim: .*expected number/);
  });

  it('a missing tensor and an unexpected tensor', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    header['layers.7.k'] = header['layers.1.out'];
    delete header['layers.1.out'];
    joinFile(file, header, data);
    expect((await openError(file)).message).toMatch(/missing tensor layers\.1\.out \(F32 \[2, 2, 4\]\)/);
    const extra = path.join(tmp(), 'x.safetensors');
    await writeTiny(extra);
    const parts = splitFile(extra);
    parts.header.extra = { dtype: 'F32', shape: [1], data_offsets: [parts.data.length, parts.data.length + 4] };
    joinFile(extra, parts.header, Buffer.concat([parts.data, Buffer.alloc(4)]));
    expect((await openError(extra)).message).toMatch(/unexpected tensor\(s\) extra/);
  });

  it('NaN data', async () => {
    const file = path.join(tmp(), 't.safetensors');
    await writeTiny(file);
    const { header, data } = splitFile(file);
    data.writeFloatLE(NaN, header['layers.0.q'].data_offsets[0] + 4 * 6);
    joinFile(file, header, data);
    const r = await TraceReader.open(file); // the header is fine; the data is checked when read
    await expect(r.readLayer(0)).rejects.toThrow(/tensor layers\.0\.q holds a non-finite value \(NaN\) at element 6/);
    await expect(r.readLayer(1)).resolves.toBeDefined();
    await r.close();
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    expect(VERSION).toBe(pkg.version);
  });
});
