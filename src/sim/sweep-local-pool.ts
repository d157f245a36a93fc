/**
 * Local worker processes for sweeps: `clusterkv sweep --jobs N` and each `clusterkv worker`. Processes, not
 * threads: a tfjs backend belongs to its process, and wasm runs one thread. Each process (sweep-pool-child.ts)
 * computes one unit at a time with the same code as an in-process sweep (sweep-unit.ts) and returns the
 * (cell, layer) CSV texts; the parent writes them.
 *
 * The sweep's own process only hands out units and writes files: it stays free to answer its processes at
 * once (an in-process lane tried here left them idle: wasm's reads resolve as microtasks, so a unit computed
 * here yields to no message until it ends, and a K-means runs seconds without a break).
 *
 * Scheduling: a free process takes the next waiting unit of the layer it computed last when there is one (its
 * layer's data and each step's full attention are still loaded there), else the first unit of a layer no
 * other process holds (processes spread over layers and compute each layer's references once), else the
 * oldest waiting unit. A process that dies fails its unit with a message that says so and is replaced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SweepUnit, UnitResult } from './results-schema.js';
import { dependencyDir, packageRoot, runningScript } from './package-root.js';

/** Messages to a local worker process. */
export type ToPoolChild = { type: 'init'; backend: string; verify: boolean } | { type: 'unit'; id: number; unit: SweepUnit };
/** Messages from a local worker process. */
export type FromPoolChild =
  | { type: 'ready'; backend: string }
  | { type: 'fatal'; message: string }
  | { type: 'step'; id: number }
  | { type: 'result'; id: number; result: UnitResult }
  | { type: 'error'; id: number; message: string; refused: boolean };

/** A unit a local worker process could not compute; `refused` when no retry can help (UnitRefused). */
export class PoolUnitError extends Error {
  constructor(message: string, readonly refused: boolean) {
    super(message);
    this.name = 'PoolUnitError';
  }
}

export interface PoolOptions {
  /** tfjs backend every process loads */
  backend: string;
  /** check each trace's sha256 in the worker processes (queue workers; a local sweep hashed it itself) */
  verify?: boolean;
  /** how to start the child (default: poolChildEntry()) */
  entry?: PoolChildEntry;
}

/** How to start a local worker process: its entry file and node's flags for it. */
export interface PoolChildEntry {
  entry: string;
  execArgv: string[];
}

/**
 * The child's entry in the package this process runs (package-root.ts finds it from the CLI's script, also
 * when node_modules/.bin/clusterkv links to it, else from the working directory): the build
 * dist/sim/sweep-pool-child.js when the CLI runs the build (an installed package), else the source through
 * tsx's loader (the checkout, tests, notebooks), else the build.
 */
export function poolChildEntry(): PoolChildEntry {
  const root = packageRoot();
  if (!root) throw new Error('cannot find the clusterkv-lab package folder for local worker processes (from the running script or the working directory): sweep with --jobs 1');
  const built = path.join(root, 'dist', 'sim', 'sweep-pool-child.js');
  const source = path.join(root, 'src', 'sim', 'sweep-pool-child.ts');
  const script = runningScript();
  const runsBuild = script !== undefined && !path.relative(path.join(root, 'dist'), script).startsWith('..');
  const tsx = dependencyDir('tsx', root);
  if (!runsBuild && existsSync(source) && tsx) return { entry: source, execArgv: ['--import', pathToFileURL(path.join(tsx, 'dist', 'loader.mjs')).href] };
  if (existsSync(built)) return { entry: built, execArgv: [] };
  throw new Error(`cannot find ${built} for local worker processes (npm run build makes it): sweep with --jobs 1`);
}

interface Task {
  id: number;
  unit: SweepUnit;
  layerKey: string;
  onStep?: () => void;
  resolve: (r: UnitResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  child: ChildProcess;
  ready: boolean;
  task?: Task;
  lastLayerKey?: string;
  exited: boolean;
}

const layerKeyOf = (u: SweepUnit) => `${u.trace.sha256}:${u.layer}`;

export class LocalPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private nextId = 0;
  private closed = false;
  private readonly entry: PoolChildEntry;

  private constructor(readonly size: number, private readonly opts: PoolOptions) {
    this.entry = opts.entry ?? poolChildEntry();
  }

  /** Starts `size` processes and waits until each has loaded its backend (a backend that fails is an error here). */
  static async start(size: number, opts: PoolOptions): Promise<LocalPool> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`jobs must be a positive integer, got ${size}`);
    const pool = new LocalPool(size, opts);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    } catch (err) {
      pool.kill();
      throw err;
    }
    return pool;
  }

  /** Computes a unit on the next free process. onStep: after each reported decode step of the unit. */
  run(unit: SweepUnit, onStep?: () => void): Promise<UnitResult> {
    if (this.closed) return Promise.reject(new Error('the local worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, unit, layerKey: layerKeyOf(unit), onStep, resolve, reject });
      this.dispatch();
    });
  }

  /** Lets every process finish and exit (call when no unit is waiting). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => this.stop(s, 'SIGTERM')));
  }

  /** Stops every process now; units in flight and waiting are rejected. */
  kill(): void {
    this.closed = true;
    for (const task of this.waiting.splice(0)) task.reject(new Error('local worker pool stopped'));
    for (const slot of this.slots) void this.stop(slot, 'SIGKILL');
  }

  private stop(slot: Slot, signal: NodeJS.Signals): Promise<void> {
    if (slot.exited) return Promise.resolve();
    return new Promise((resolve) => {
      slot.child.once('exit', () => resolve());
      if (slot.child.connected) slot.child.disconnect(); // the child exits when its parent channel closes
      if (signal === 'SIGKILL') slot.child.kill('SIGKILL');
      else setTimeout(() => slot.exited || slot.child.kill(signal), 5000).unref();
    });
  }

  private spawn(): Promise<void> {
    const child = fork(this.entry.entry, [], { execArgv: this.entry.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const slot: Slot = { child, ready: false, exited: false };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      child.on('message', (msg: FromPoolChild) => {
        if (msg.type === 'ready') {
          slot.ready = true;
          resolve();
          this.dispatch();
        } else if (msg.type === 'fatal') {
          reject(new Error(msg.message));
        } else if (slot.task && msg.id === slot.task.id) {
          const task = slot.task;
          if (msg.type === 'step') task.onStep?.();
          else {
            slot.task = undefined;
            if (msg.type === 'result') task.resolve(msg.result);
            else task.reject(new PoolUnitError(msg.message, msg.refused));
            this.dispatch();
          }
        }
      });
      child.on('exit', (code, signal) => {
        slot.exited = true;
        this.slots.splice(this.slots.indexOf(slot), 1);
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (!slot.ready) reject(new Error(`a local worker process exited before it was ready (${how})`));
        if (slot.task) {
          const { unit } = slot.task;
          slot.task.reject(new PoolUnitError(`the local worker process computing layer ${unit.layer} of ${unit.cells.map((c) => c.id).join(', ')} exited (${how})`, false));
          slot.task = undefined;
        }
        // replace a process that died while work remains
        if (!this.closed && slot.ready && this.waiting.length > 0) this.spawn().catch((err: Error) => this.failWaiting(err));
      });
      child.send({ type: 'init', backend: this.opts.backend, verify: this.opts.verify ?? false } satisfies ToPoolChild);
    });
  }

  private failWaiting(err: Error): void {
    if (this.slots.some((s) => s.ready)) return; // others carry on
    for (const task of this.waiting.splice(0)) task.reject(err);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.task || slot.exited || this.waiting.length === 0) continue;
      const held = new Set(this.slots.flatMap((s) => (s.task ? [s.task.layerKey] : [])));
      let i = this.waiting.findIndex((t) => t.layerKey === slot.lastLayerKey);
      if (i < 0) i = this.waiting.findIndex((t) => !held.has(t.layerKey));
      if (i < 0) i = 0;
      const [task] = this.waiting.splice(i, 1);
      slot.task = task;
      slot.lastLayerKey = task.layerKey;
      slot.child.send({ type: 'unit', id: task.id, unit: task.unit } satisfies ToPoolChild);
    }
  }
}
