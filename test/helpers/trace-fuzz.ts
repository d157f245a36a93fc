/**
 * Seeded variants of a valid trace file for the fuzzer (test/cli/fuzz.test.ts): byte flips, truncations at
 * every structural boundary, header JSON edits, dtype/shape/offset lies, huge dimensions and header-length lies.
 * Plain functions of (file bytes, seed): the same seed gives the same variants.
 */
import { mulberry32 } from '../../src/trace/random.js';

export interface FuzzVariant {
  /** kind/what, e.g. 'truncate/inside tensor layers.0.k' */
  name: string;
  bytes: Uint8Array;
}

interface Parsed {
  headerLength: number;
  header: Record<string, unknown>;
  data: Uint8Array;
}

function parse(file: Uint8Array): Parsed {
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>;
  return { headerLength, header, data: file.subarray(8 + headerLength) };
}

/** A container from a header text (padded with spaces to a multiple of 8) and data bytes. */
function encodeText(text: string, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const raw = Buffer.from(text, 'utf8');
  const padded = Math.ceil(raw.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(padded), true);
  out.set(raw, 8);
  out.fill(0x20, 8 + raw.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

function encode(header: unknown, data: Uint8Array): Uint8Array {
  return encodeText(JSON.stringify(header), data);
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The header with the trace manifest (a JSON string under __metadata__.trace) edited by `edit`. */
function withManifest(header: Record<string, unknown>, edit: (m: Record<string, unknown>) => void): Record<string, unknown> {
  const h = clone(header);
  const meta = h.__metadata__ as Record<string, string>;
  const m = JSON.parse(meta.trace) as Record<string, unknown>;
  edit(m);
  meta.trace = JSON.stringify(m);
  return h;
}

/** Sets a dotted path (a.b.0) in an object; `undefined` deletes it. */
function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let o = obj as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
}

interface TensorRecord {
  dtype: unknown;
  shape: unknown;
  data_offsets: unknown;
}

export function fuzzVariants(file: Uint8Array, seed: number): FuzzVariant[] {
  const rand = mulberry32(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const { headerLength, header, data } = parse(file);
  const dataStart = 8 + headerLength;
  const tensors = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, TensorRecord][];
  const variants: FuzzVariant[] = [];
  const add = (name: string, bytes: Uint8Array) => variants.push({ name, bytes });

  // 1. truncations at every structural boundary (and one byte either side)
  const cuts = new Map<number, string>([
    [0, 'empty file'], [1, 'inside the length'], [7, 'one byte short of the length'], [8, 'length only'], [9, 'one header byte'],
    [8 + Math.floor(headerLength / 2), 'half the header'], [dataStart - 1, 'one byte short of the header'], [dataStart, 'header only'],
    [dataStart + 1, 'one data byte'], [file.length - 1, 'one byte short'],
  ]);
  for (const [name, t] of tensors) {
    const [begin, end] = t.data_offsets as [number, number];
    cuts.set(dataStart + begin + 1, `inside tensor ${name} (start)`);
    cuts.set(dataStart + Math.floor((begin + end) / 2), `inside tensor ${name} (middle)`);
    cuts.set(dataStart + end - 1, `one byte short of tensor ${name}'s end`);
  }
  for (const [at, what] of cuts) add(`truncate/${what} (${at} bytes)`, file.slice(0, at));
  add('extend/a trailing byte', Uint8Array.from([...file, 0]));
  add('extend/a trailing tensor-sized block', Uint8Array.from([...file, ...new Uint8Array(64)]));

  // 2. byte flips: the length prefix, the header text, the data, anywhere
  const flip = (region: string, from: number, to: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const bytes = file.slice();
      const flips = 1 + int(3);
      const at: number[] = [];
      for (let f = 0; f < flips; f++) {
        const p = from + int(to - from);
        bytes[p] ^= 1 + int(255);
        at.push(p);
      }
      add(`flip/${region} at ${at.join(',')}`, bytes);
    }
  };
  flip('length prefix', 0, 8, 12);
  flip('header', 8, dataStart, 40);
  flip('data', dataStart, file.length, 40);
  flip('anywhere', 0, file.length, 20);

  // 3. header JSON edits: the manifest's fields
  const manifestEdits: [string, unknown][] = [
    ['format', 'other-trace'], ['format', undefined], ['version', 2], ['version', '1'], ['version', undefined],
    ['model.layers', 0], ['model.layers', -1], ['model.layers', 1.5], ['model.layers', '2'], ['model.layers', null], ['model.layers', 3], ['model.layers', 1],
    ['model.heads', 3], ['model.heads', 0], ['model.kvHeads', 0], ['model.kvHeads', 4], ['model.headDim', 0], ['model.headDim', 8],
    ['model.ropeTheta', -1], ['model.ropeTheta', 'x'], ['model', undefined], ['model', []],
    ['contextLength', 0], ['contextLength', 20], ['contextLength', 41], ['prefillLength', 100], ['prefillLength', -1], ['prefillLength', 0],
    ['stepPositions', []], ['stepPositions', [39, 38]], ['stepPositions', [38, 40]], ['stepPositions', [38.5, 39]], ['stepPositions', 'x'], ['stepPositions', [38]],
    ['dtype', 'F32'], ['dtype', 'BF16'], ['keys', 'pre-rope'], ['source', undefined], ['source.kind', 'alien'], ['createdBy', 5], ['seed', 'x'],
  ];
  for (const [field, value] of manifestEdits) add(`manifest/${field} = ${JSON.stringify(value) ?? 'deleted'}`, encode(withManifest(header, (m) => setPath(m, field, value)), data));
  const metaEdits: [string, (h: Record<string, unknown>) => void][] = [
    ['no __metadata__', (h) => delete h.__metadata__],
    ['__metadata__ not a map of strings', (h) => { h.__metadata__ = { trace: { format: 'clusterkv-trace' } }; }],
    ['__metadata__ an array', (h) => { h.__metadata__ = []; }],
    ['manifest not JSON', (h) => { (h.__metadata__ as Record<string, string>).trace = '{"format": "clusterkv-trace",'; }],
    ['manifest a number', (h) => { (h.__metadata__ as Record<string, string>).trace = '42'; }],
    ['manifest null', (h) => { (h.__metadata__ as Record<string, string>).trace = 'null'; }],
    ['manifest deeply nested', (h) => { (h.__metadata__ as Record<string, string>).trace = '['.repeat(100000) + ']'.repeat(100000); }],
    ['header an array', (h) => { for (const k of Object.keys(h)) delete h[k]; }],
  ];
  for (const [what, edit] of metaEdits) {
    const h = clone(header);
    edit(h);
    add(`metadata/${what}`, what === 'header an array' ? encodeText('[1,2,3]', data) : encode(h, data));
  }
  add('header/not JSON', encodeText('{"__metadata__": {', data));
  add('header/a string', encodeText('"trace"', data));
  add('header/invalid UTF-8', (() => {
    const bytes = file.slice();
    bytes.set([0xff, 0xfe, 0xfd], 9);
    return bytes;
  })());

  // 4. tensor-table lies: dtype, shape, offsets, names
  const tensorEdits: [string, (t: TensorRecord, h: Record<string, unknown>, name: string) => void][] = [
    ['dtype F32', (t) => { t.dtype = 'F32'; }], ['dtype I32', (t) => { t.dtype = 'I32'; }], ['dtype F64', (t) => { t.dtype = 'F64'; }],
    ['dtype BF16', (t) => { t.dtype = 'BF16'; }], ['dtype 3', (t) => { t.dtype = 3; }], ['dtype missing', (t) => { delete (t as Partial<TensorRecord>).dtype; }],
    ['shape reversed', (t) => { t.shape = [...(t.shape as number[])].reverse(); }], ['shape []', (t) => { t.shape = []; }],
    ['shape with a 0', (t) => { t.shape = (t.shape as number[]).map((n, i) => (i === 0 ? 0 : n)); }],
    ['shape with an extra 1', (t) => { t.shape = [1, ...(t.shape as number[])]; }], ['shape negative', (t) => { t.shape = (t.shape as number[]).map((n) => -n); }],
    ['shape fractional', (t) => { t.shape = (t.shape as number[]).map((n, i) => (i === 0 ? n + 0.5 : n)); }], ['shape a string', (t) => { t.shape = '2,3'; }],
    ['offsets shifted by 2', (t) => { t.data_offsets = (t.data_offsets as number[]).map((n) => n + 2); }],
    ['offsets reversed', (t) => { t.data_offsets = [...(t.data_offsets as number[])].reverse(); }],
    ['offsets negative', (t) => { t.data_offsets = (t.data_offsets as number[]).map((n) => n - 1_000_000); }],
    ['offsets one number', (t) => { t.data_offsets = [(t.data_offsets as number[])[0]]; }],
    ['offsets strings', (t) => { t.data_offsets = (t.data_offsets as number[]).map(String); }],
    ['offsets past the end', (t) => { t.data_offsets = (t.data_offsets as number[]).map((n) => n + 10_000_000); }],
    ['offsets 1e300', (t) => { t.data_offsets = [0, 1e300]; }],
    ['offsets overlapping the first tensor', (t) => { const [b, e] = t.data_offsets as number[]; t.data_offsets = [0, e - b]; }],
    ['entry a number', (_t, h, name) => { h[name] = 7; }], ['entry removed', (_t, h, name) => { delete h[name]; }],
    ['renamed', (t, h, name) => { delete h[name]; h[`${name}x`] = t; }],
    ['an extra tensor', (_t, h) => { h['layers.9.k'] = { dtype: 'F16', shape: [0], data_offsets: [0, 0] }; }],
  ];
  for (const [what, edit] of tensorEdits) {
    const [name] = tensors[int(tensors.length)];
    const h = clone(header);
    edit(h[name] as TensorRecord, h, name);
    add(`tensor/${name}: ${what}`, encode(h, data));
  }

  // 5. huge dimensions: in the manifest alone, and in the manifest and the tensor table together
  const huge = [2 ** 31, 2 ** 40, 2 ** 53 - 1, 1e300];
  for (const n of huge) {
    for (const field of ['model.layers', 'model.heads', 'model.kvHeads', 'model.headDim', 'contextLength']) {
      add(`huge/${field} = ${n}`, encode(withManifest(header, (m) => setPath(m, field, n)), data));
    }
  }
  add('huge/1e6 step positions', encode(withManifest(header, (m) => { m.stepPositions = Array.from({ length: 1_000_000 }, (_, i) => i); m.contextLength = 1_000_001; }), data));
  for (const n of [2 ** 20, 2 ** 31, 2 ** 40]) {
    const h = withManifest(header, (m) => { m.contextLength = n; m.prefillLength = n - 2; m.stepPositions = [n - 2, n - 1]; });
    for (const [name, t] of Object.entries(h)) {
      if (name === '__metadata__') continue;
      const rec = t as TensorRecord;
      if (/\.(k|v)$/.test(name)) rec.shape = [(rec.shape as number[])[0], n, (rec.shape as number[])[2]];
      if (name === 'tokens') rec.shape = [n];
    }
    add(`huge/context ${n} in manifest and shapes`, encode(h, data));
  }
  {
    const h = clone(header);
    const [name, t] = Object.entries(h).find(([k]) => k !== '__metadata__') as [string, TensorRecord];
    t.shape = [2 ** 30, 2 ** 30, 2 ** 30];
    add(`huge/${name} shape 2^90 elements`, encode(h, data));
  }

  // 6. header-length lies
  const text = Buffer.from(file.subarray(8, dataStart)).toString('utf8');
  for (const n of [0n, 1n, 2n, BigInt(headerLength - 8), BigInt(headerLength + 8), BigInt(file.length), 2n ** 63n - 1n, 2n ** 64n - 1n]) {
    add(`length/${n}`, encodeText(text, data, n));
  }
  return variants;
}
