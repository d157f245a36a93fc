/**
 * Sweep throughput (docs/DESIGN.md#parity-and-the-cpu-benchmark, issue 13): the same sweep on 1 and on N local worker processes
 * (`clusterkv sweep --jobs`), and optionally on 1 and N `clusterkv worker`s through a BullMQ queue, each run a
 * fresh `clusterkv sweep` process into a fresh folder, as a user runs it.
 *
 *   bench/run.ts sweep-throughput [--grid quickstart,ckv8k,ckv16k] [--trace8k F] [--trace16k F] [--jobs 2]
 *                                 [--queue redis://127.0.0.1:6379/0] [--out F.json]   (bench/sweep-throughput.md)
 *
 * Grids: quickstart (the embedded 4K synthetic trace; full, oracle, clusterkv at 3 cluster counts x 4
 * budgets), ckv8k and ckv16k (captured ckvlab-9m-16k traces of Moby Dick, layers 2-5; oracle, quest and
 * clusterkv at C0 = 51/102/205 x B = 128..1024: issue 13's sweep). Prints and writes wall and CPU seconds
 * (user + sys of the whole process tree, from /usr/bin/time), the speed-up over one worker, the load average
 * before and after each run (timings are only comparable on an idle machine), and whether every run's
 * results.csv is byte-identical to the one-worker run's. Queue runs time the submitter only: workers are
 * started (and their backends loaded) before the clock starts, as long-lived workers are.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSweepManifest } from '../../src/sim/results-folder.js';
import { DEFAULT_SYNTH, writeSyntheticTrace } from '../../src/trace/index.js';
import { nodeCommand, repoRoot as root } from '../suite.js';

export interface SweepThroughputOptions {
  grids: string[];
  trace8k?: string;
  trace16k?: string;
  jobs: number;
  queue?: string;
  out?: string;
}

interface Grid {
  name: string;
  trace: string;
  args: string[];
}

const ISSUE_GRID = ['--layers', '2,3,4,5', '--methods', 'oracle,quest,clusterkv', '--clusters', '51,102,205', '--budgets', '128,256,512,1024'];

async function grids(opts: SweepThroughputOptions): Promise<Grid[]> {
  const out: Grid[] = [];
  for (const name of opts.grids) {
    if (name === 'quickstart') {
      const trace = path.join(mkdtempSync(path.join(os.tmpdir(), 'ckv-bench-')), 'quickstart.safetensors');
      await writeSyntheticTrace(trace, DEFAULT_SYNTH);
      // the quickstart's grid: C0 at half, one and twice the default tokens per cluster (80), four budgets
      out.push({ name, trace, args: ['--methods', 'full,oracle,clusterkv', '--clusters', '26,51,102', '--budgets', '128,256,512,1024'] });
    } else if (name === 'ckv8k' || name === 'ckv16k') {
      const trace = (name === 'ckv8k' ? opts.trace8k : opts.trace16k) ?? `/tmp/${name}.safetensors`;
      if (!existsSync(trace)) {
        console.error(`${name}: no trace at ${trace}; capture it with: clusterkv capture --model ../shared/models/ckvlab-9m-16k/model.bin --tokenizer ../shared/models/stories260K/tok512.bin --text moby-dick --context ${name === 'ckv8k' ? 8192 : 16384} --steps 16 --dtype F32 --out ${trace}`);
        continue;
      }
      out.push({ name, trace, args: ISSUE_GRID });
    } else throw new RangeError(`--grid: unknown grid '${name}' (quickstart, ckv8k, ckv16k)`);
  }
  return out;
}

interface Run {
  grid: string;
  mode: 'local' | 'queue';
  workers: number;
  wallSeconds: number;
  /** CPU seconds of the `clusterkv sweep` process tree (queue runs: the submitter only) */
  cpuSeconds: number;
  /** CPU seconds the worker processes spent in units, in all and the busiest one (manifest.execution.workers) */
  unitCpuSeconds?: number;
  busiestWorkerCpuSeconds?: number;
  loadBefore: number[];
  loadAfter: number[];
  identical: boolean;
  cellLayers: number;
}

/** One `clusterkv sweep` under /usr/bin/time: wall and CPU seconds of its whole process tree. */
function timedSweep(args: string[]): { wall: number; cpu: number; out: string } {
  const out = mkdtempSync(path.join(os.tmpdir(), 'ckv-bench-out-'));
  const run = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S', ...nodeCommand('cli', ['sweep', ...args, '--out', out, '--backend', 'wasm', '--quiet'])], { cwd: root, encoding: 'utf8' });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(run.stderr);
  if (run.status !== 0 || !m) throw new Error(`sweep failed (${run.status}):\n${run.stderr}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), out };
}

async function startWorkers(n: number, url: string, prefix: string): Promise<ChildProcess[]> {
  const children = Array.from({ length: n }, () => {
    const [node, ...args] = nodeCommand('cli', ['worker', '--queue', url, '--prefix', prefix, '--backend', 'wasm']);
    return spawn(node, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  });
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          let text = '';
          c.stderr!.on('data', (d) => {
            text += d;
            if (text.includes('waiting for sweep units')) resolve();
          });
          c.once('exit', (code) => reject(new Error(`worker exited (${code}): ${text}`)));
        }),
    ),
  );
  return children;
}

/** Runs the grids on 1 and `jobs` workers (locally and, with a queue, through it); writes the report to opts.out. */
export async function sweepThroughput(opts: SweepThroughputOptions): Promise<void> {
  const { jobs, queue } = opts;
  const runs: Run[] = [];
  for (const grid of await grids(opts)) {
    let reference: string | undefined;
    const record = (mode: Run['mode'], workers: number, t: { wall: number; cpu: number; out: string }, loadBefore: number[]) => {
      const csv = readFileSync(path.join(t.out, 'results.csv'), 'utf8');
      reference ??= csv;
      const manifest = readSweepManifest(t.out);
      if (!manifest) throw new Error(`${t.out}: the sweep wrote no manifest`);
      const stats = manifest.execution?.workers ?? [];
      const unitCpu = stats.length ? stats.reduce((n, w) => n + w.cpuSeconds, 0) : undefined;
      const busiest = stats.length ? Math.max(...stats.map((w) => w.cpuSeconds)) : undefined;
      const run: Run = { grid: grid.name, mode, workers, wallSeconds: t.wall, cpuSeconds: t.cpu, unitCpuSeconds: unitCpu, busiestWorkerCpuSeconds: busiest, loadBefore, loadAfter: os.loadavg(), identical: csv === reference, cellLayers: manifest.progress.total };
      runs.push(run);
      const split = unitCpu !== undefined && busiest !== undefined ? `, units ${unitCpu.toFixed(1)} s CPU (busiest worker ${busiest.toFixed(1)})` : '';
      console.log(`${grid.name.padEnd(10)} ${mode.padEnd(5)} ${String(workers).padStart(2)} worker(s): ${t.wall.toFixed(1).padStart(6)} s wall, ${t.cpu.toFixed(1).padStart(6)} s CPU${split}, load ${loadBefore[0].toFixed(2)} -> ${run.loadAfter[0].toFixed(2)}${run.identical ? '' : '  RESULTS DIFFER'}`);
    };
    for (const n of [1, jobs]) {
      const load = os.loadavg();
      record('local', n, timedSweep([grid.trace, ...grid.args, '--jobs', String(n)]), load);
    }
    if (queue) {
      for (const n of [1, jobs]) {
        const prefix = `ckvbench-${process.pid}-${n}`;
        const workers = await startWorkers(n, queue, prefix);
        try {
          const load = os.loadavg();
          record('queue', n, timedSweep([grid.trace, ...grid.args, '--queue', queue, '--prefix', prefix, '--name', `bench-${grid.name}`]), load);
        } finally {
          for (const w of workers) w.kill('SIGTERM');
          spawnSync('redis-cli', ['-u', queue, '--scan', '--pattern', `${prefix}:*`], { encoding: 'utf8' })
            .stdout.split('\n')
            .filter(Boolean)
            .forEach((key) => spawnSync('redis-cli', ['-u', queue, 'del', key]));
        }
      }
    }
  }
  // wall speed-up, and what the split of the work allows when every worker has a core of its own: the units'
  // CPU seconds over the busiest worker's (load-independent; startup and the submitter's share aside)
  const speedups = runs
    .filter((r) => r.workers > 1)
    .map((r) => {
      const one = runs.find((o) => o.grid === r.grid && o.mode === r.mode && o.workers === 1)!;
      const cpuBound = r.unitCpuSeconds && r.busiestWorkerCpuSeconds ? Number((r.unitCpuSeconds / r.busiestWorkerCpuSeconds).toFixed(2)) : undefined;
      return { grid: r.grid, mode: r.mode, workers: r.workers, wall: Number((one.wallSeconds / r.wallSeconds).toFixed(2)), cpuBound };
    });
  for (const s of speedups) console.log(`${s.grid} ${s.mode}: ${s.workers} workers ${s.wall}x one worker's wall time; work split allows ${s.cpuBound ?? '?'}x`);
  const report = { machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model, node: process.version }, backend: 'wasm', date: new Date().toISOString(), runs, speedups };
  if (opts.out) writeFileSync(opts.out, `${JSON.stringify(report, null, 1)}\n`);
}
