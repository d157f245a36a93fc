/**
 * `clusterkv doctor [--json]`: which tfjs backends load here and why not, the GPU adapter (a software one only
 * when env CLUSTERKV_WEBGPU_ADAPTER=software asks for it), a tiny matMul on every backend that loads (checked
 * against the known product), and on webgpu a tiny WGSL kernel, to prove the custom kernels run.
 * With --model DIR: whether the checkpoint fits this GPU for the WebGPU engine at --context x --batch, and
 * its decode bytes bound in tokens/s (src/model/engine/model-fit.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { BACKEND_NAMES, gpuAdapterInfo, probeBackends, softwareAdapterRequested, type BackendProbe } from '../../gpu/backend.js';
import { kernelPath } from '../../gpu/kernel-path.js';
import { copyWgsl } from '../../gpu/wgsl/ceilings/copy-read.js';
import { featuresTurnedOff, KERNEL_FEATURES } from '../../gpu/wgsl/runtime/capabilities.js';
import { deviceMemoryLimits } from '../../model/engine/footprint.js';
import { formatModelFit, modelFit, type ModelFit } from '../../model/engine/model-fit.js';
import { readCeiling } from '../../model/engine/read-ceiling.js';
import { engineDTypeOptions, engineDTypes, type EngineDTypeFlags } from '../engine-flags.js';
import { UserError } from '../errors.js';
import { parseIntFlag } from '../parse.js';

export interface DoctorBackend extends BackendProbe {
  /** the tiny matMul: ok, or the error / the wrong result */
  check?: { ok: boolean; ms?: number; error?: string };
  /** webgpu: a WGSL copy kernel of 8 numbers */
  wgsl?: { ok: boolean; error?: string };
}

export interface DoctorReport {
  node: string;
  platform: string;
  tfjs: string;
  /** which kernels the public functions run on webgpu ('wgsl' unless forced to 'ops'); null where webgpu does not load */
  kernelPath: string | null;
  /** the backend a command runs on without --backend, and why */
  defaultBackend: { name: string | null; why: string };
  backends: DoctorBackend[];
  gpuAdapter?: Record<string, unknown>;
  /** --model: the checkpoint's fit and bytes bound */
  modelFit?: ModelFit;
}

interface DoctorFlags extends EngineDTypeFlags {
  json?: boolean;
  model?: string;
  context: string;
  batch: string;
  budget: string;
  readGbps?: string;
}

/** The fit of --model on this machine's WebGPU device (when one loaded), the read ceiling measured there or given. */
async function fitOf(flags: DoctorFlags & { model: string }, report: DoctorReport): Promise<ModelFit> {
  const context = parseIntFlag('--context', flags.context, 1);
  const batch = parseIntFlag('--batch', flags.batch, 1);
  if (batch > 8) throw new UserError(`--batch: the engine decodes 1..8 sequences together, got ${batch}`);
  const budget = parseIntFlag('--budget', flags.budget, 1);
  let given: number | undefined;
  if (flags.readGbps !== undefined) {
    given = Number(flags.readGbps);
    if (!(given > 0)) throw new UserError(`--read-gbps must be a positive number, got '${flags.readGbps}'`);
  }
  const gpu = report.backends.find((b) => b.name === 'webgpu' && b.check?.ok) && (await tf.setBackend('webgpu'));
  let ceiling = given !== undefined ? { GBps: given, source: 'given: --read-gbps' } : undefined;
  if (gpu && !ceiling && report.gpuAdapter?.software !== true) {
    const measured = await readCeiling(1 << 30, 1);
    if (measured) ceiling = { GBps: measured.GBps, source: `measured here: the WGSL read kernel over ${(measured.bytes / 2 ** 20).toFixed(0)} MiB` };
  }
  return modelFit({ path: flags.model, context, batch, budget, ...engineDTypes(flags), limits: gpu ? deviceMemoryLimits() : undefined, ceiling });
}

/** [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]] on the given backend. */
async function matMulCheck(name: string): Promise<NonNullable<DoctorBackend['check']>> {
  try {
    if (!(await tf.setBackend(name))) return { ok: false, error: 'failed to initialise' };
    await tf.ready();
    const t0 = performance.now();
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])));
    const got = Array.from(await product.data());
    product.dispose();
    const ms = performance.now() - t0;
    const want = [19, 22, 43, 50];
    const ok = got.every((x, i) => Math.abs(x - want[i]) < 1e-4);
    return ok ? { ok, ms } : { ok, ms, error: `matMul gave [${got.join(', ')}], expected [${want.join(', ')}]` };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

/** A WGSL copy of [1..8] on the active webgpu backend. */
async function wgslCheck(): Promise<NonNullable<DoctorBackend['wgsl']>> {
  try {
    const x = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
    const y = copyWgsl(x);
    const got = Array.from(await y.data());
    tf.dispose([x, y]);
    return got.every((v, i) => v === i + 1) ? { ok: true } : { ok: false, error: `copy gave [${got.join(', ')}]` };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

export async function runDoctor(): Promise<DoctorReport> {
  const probes = await probeBackends();
  const backends: DoctorBackend[] = [];
  for (const probe of probes) {
    if (!probe.loaded) backends.push(probe);
    else {
      const check = await matMulCheck(probe.name);
      backends.push(probe.name === 'webgpu' && check.ok ? { ...probe, check, wgsl: await wgslCheck() } : { ...probe, check });
    }
  }
  const webgpu = backends.find((b) => b.name === 'webgpu');
  return { node: process.version, platform: `${process.platform}-${process.arch}`, tfjs: tf.version_core, kernelPath: webgpu?.check?.ok ? kernelPath() : null, defaultBackend: defaultBackend(backends), backends, gpuAdapter: gpuAdapterInfo() };
}

/** What useBackend picks without --backend: CLUSTERKV_BACKEND, else the first that loads (a software adapter never). */
function defaultBackend(backends: DoctorBackend[]): DoctorReport['defaultBackend'] {
  const env = process.env.CLUSTERKV_BACKEND;
  if (env) return { name: env, why: `CLUSTERKV_BACKEND=${env}` };
  const order = BACKEND_NAMES.join(', ');
  const first = backends.find((b) => b.check?.ok && !(b.name === 'webgpu' && softwareAdapterRequested()));
  return first ? { name: first.name, why: `the first of ${order} that loads here` } : { name: null, why: `none of ${order} loads here` };
}

export function formatDoctor(report: DoctorReport): string {
  const kernels = report.kernelPath ?? 'none (webgpu does not load here)';
  const chosen = report.defaultBackend;
  const lines = [
    `node ${report.node} on ${report.platform}, tfjs-core ${report.tfjs}, kernels on webgpu: ${kernels}`,
    `default backend: ${chosen.name ?? 'none'} (${chosen.why}; --backend or CLUSTERKV_BACKEND chooses)`,
    '',
  ];
  for (const b of report.backends) {
    const wgsl = b.wgsl ? (b.wgsl.ok ? '; WGSL kernels run' : `; WGSL kernels FAIL: ${b.wgsl.error}`) : '';
    if (!b.loaded) lines.push(`  ${b.name.padEnd(10)} not available: ${b.reason ?? 'unknown reason'}`);
    else if (b.check?.ok) lines.push(`  ${b.name.padEnd(10)} ok (2x2 matMul correct, ${b.check.ms?.toFixed(1)} ms${wgsl})`);
    else lines.push(`  ${b.name.padEnd(10)} loads but FAILS: ${b.check?.error}`);
  }
  const a = report.gpuAdapter;
  lines.push('');
  if (a) {
    const software = a.software === true ? ' [SOFTWARE adapter, opted in by CLUSTERKV_WEBGPU_ADAPTER=software: for tests, not timings]' : '';
    lines.push(`GPU adapter: ${[a.vendor, a.architecture, a.device, a.description].filter((x) => x !== undefined && x !== '').join(' / ') || '(no description)'}${software}`);
    const limits = (a.limits ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(limits)) lines.push(`  ${k}: ${String(v)}`);
    if (Array.isArray(a.features)) {
      // the optional features the kernels use: offered by the adapter, and on in our device
      const on = new Set(Array.isArray(a.deviceFeatures) ? (a.deviceFeatures as string[]) : []);
      // a bad CLUSTERKV_FEATURES_OFF is already the webgpu line's reason: here it turns nothing off
      const off: string[] = (() => { try { return featuresTurnedOff(); } catch { return []; } })();
      const sizes = Array.isArray(a.subgroupSizes) ? ` (subgroup size ${(a.subgroupSizes as number[]).join('-')})` : '';
      lines.push(`  features: ${KERNEL_FEATURES.map((f) => `${f} ${on.has(f) ? 'on' : (a.features as string[]).includes(f) ? `offered, off${off.includes(f) ? ' (CLUSTERKV_FEATURES_OFF)' : ''}` : 'no'}${f === 'subgroups' && on.has(f) ? sizes : ''}`).join(', ')}`);
    }
  } else {
    lines.push('GPU adapter: none found');
  }
  if (report.modelFit) lines.push('', ...formatModelFit(report.modelFit));
  return lines.join('\n');
}

export function register(program: Command): void {
  const command = program
    .command('doctor')
    .description('check which tfjs backends load here, the GPU adapter, and a tiny matMul on each; with --model, whether a checkpoint fits the GPU and its decode tokens/s bound')
    .option('--json', 'print the report as JSON')
    .option('--model <path>', 'a checkpoint (llama2.c .bin or Hugging Face folder): does it fit this GPU for the WebGPU engine, and how fast can it decode (bytes bound)')
    .option('--context <n>', 'with --model: positions per sequence', '32768')
    .option('--batch <n>', 'with --model: sequences decoded together (1..8)', '1')
    .option('--budget <n>', "with --model: ClusterKV's budget for its bound", '1024')
    .option('--read-gbps <x>', 'with --model: the read ceiling in GB/s (default: measured on this GPU, else an H100\'s)');
  engineDTypeOptions(command)
    .action(async (flags: DoctorFlags) => {
      const report = await runDoctor();
      if (flags.model) report.modelFit = await fitOf({ ...flags, model: flags.model }, report);
      process.stdout.write((flags.json ? JSON.stringify(report, null, 2) : formatDoctor(report)) + '\n');
      if (!report.backends.some((b) => b.check?.ok)) process.exitCode = 1;
    });
}
