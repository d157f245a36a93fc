/**
 * A small, comparable digest of a trace, for checking a capture made on one machine against a capture made
 * on another when the traces themselves are too large to move (a 16K capture of ckvlab is ~100 MB; the GPU
 * host returns files of at most 16 MB): per tensor its size, sum, L2 norm and every k-th value (a strided
 * sample of ~8K values per tensor, element for element).
 *
 *   bench/run.ts digest TRACE.safetensors OUT.json
 *   bench/run.ts digest --compare A.json B.json [--tolerance 1e-3]   (exit 1 beyond tolerance)
 * The comparison reports, per tensor, the worst relative difference |a - b| / (1 + |b|) over the sample.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { TraceReader } from '../../src/trace/index.js';
import { worstRelative } from '../../src/sim/parity.js';

const SAMPLES = 8_000;

interface TensorDigest { size: number; sum: number; l2: number; stride: number; sample: number[] }
interface Digest { kind: 'clusterkv-trace-digest'; path: string; manifest: unknown; tensors: Record<string, TensorDigest> }

async function digest(path: string): Promise<Digest> {
  const reader = await TraceReader.open(path);
  try {
    const tensors: Record<string, TensorDigest> = {};
    for (const name of [...reader.tensors.keys()].sort()) {
      const values = await reader.readTensor(name);
      const stride = Math.max(1, Math.floor(values.length / SAMPLES));
      let sum = 0;
      let sq = 0;
      for (const x of values) {
        sum += x;
        sq += x * x;
      }
      const sample: number[] = [];
      for (let i = 0; i < values.length; i += stride) sample.push(values[i]);
      tensors[name] = { size: values.length, sum, l2: Math.sqrt(sq), stride, sample };
    }
    return { kind: 'clusterkv-trace-digest', path, manifest: reader.manifest, tensors };
  } finally {
    await reader.close();
  }
}

function compareDigests(a: Digest, b: Digest, tolerance: number): boolean {
  let ok = true;
  let worstAll = 0;
  for (const [name, ta] of Object.entries(a.tensors)) {
    const tb = b.tensors[name];
    if (!tb || tb.size !== ta.size) {
      console.log(`${name}: missing or of another size in ${b.path}`);
      ok = false;
      continue;
    }
    const worst = worstRelative(ta.sample, tb.sample);
    const l2 = Math.abs(ta.l2 - tb.l2) / (1 + tb.l2);
    worstAll = Math.max(worstAll, worst, l2);
    if (worst > tolerance || l2 > tolerance) {
      ok = false;
      console.log(`${name}: worst sampled relative difference ${worst.toExponential(2)}, L2 ${l2.toExponential(2)} (tolerance ${tolerance})`);
    }
  }
  console.log(`${Object.keys(a.tensors).length} tensors, worst sampled relative difference ${worstAll.toExponential(2)}: ${ok ? 'equal within' : 'NOT within'} ${tolerance}`);
  return ok;
}

/** Writes the digest of `trace` to `out`. */
export async function writeDigest(trace: string, out: string): Promise<void> {
  writeFileSync(out, JSON.stringify(await digest(trace)));
}

/** Compares two digest files; true when every tensor is within `tolerance`. */
export function compareDigestFiles(a: string, b: string, tolerance: number): boolean {
  const [da, db] = [a, b].map((f) => JSON.parse(readFileSync(f, 'utf8')) as Digest);
  return compareDigests(da, db, tolerance);
}
