import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/gpu/backend.js';
import { belady } from '../../src/sim/cache/belady.js';
import { lastRSteps } from '../../src/sim/cache/last-r-steps.js';
import { lru } from '../../src/sim/cache/lru.js';
import type { UnitCachePolicy } from '../../src/sim/cache/policy.js';
import { parsePolicySpecs, recordUnitAccesses, simulateCache, summarizeCache, unitRequests, type AccessSequence } from '../../src/sim/cachesim.js';
import { createMethod } from '../../src/sim/methods/index.js';
import { TraceReader } from '../../src/trace/index.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

/** Missed units of a policy over a sequence (unit sizes 1). */
function misses(policy: UnitCachePolicy, seq: Int32Array[]): number {
  return seq.reduce((n, ids, step) => n + policy.access(step, ids, Array.from(ids, () => 1)).misses, 0);
}

/**
 * The fewest misses any cache of `capacity` units can have (exhaustive search over what to keep after each
 * step, the same model as the policies: a step's units are all loaded, then the cache is cut to capacity).
 */
function optimalMisses(seq: Int32Array[], capacity: number): number {
  let states = new Map<string, number>([['', 0]]);
  for (const ids of seq) {
    const next = new Map<string, number>();
    for (const [key, cost] of states) {
      const resident = key === '' ? [] : key.split(',').map(Number);
      const missed = Array.from(ids).filter((id) => !resident.includes(id)).length;
      const pool = [...new Set([...resident, ...ids])].sort((a, b) => a - b);
      // every subset of the pool with at most `capacity` units
      for (let mask = 0; mask < 1 << pool.length; mask++) {
        const kept = pool.filter((_, i) => mask & (1 << i));
        if (kept.length > capacity) continue;
        const k = kept.join(',');
        const c = cost + missed;
        if (!next.has(k) || next.get(k)! > c) next.set(k, c);
      }
    }
    states = next;
  }
  return Math.min(...states.values());
}

const seqOf = (xs: number[][]) => xs.map((x) => Int32Array.from(x));

describe('cache policies', () => {
  it('a hand-worked sequence: Belady misses only the first use of each unit, LRU and last-1 miss every access', () => {
    // capacity 2 over 1 2 3 1 2 4 1 2: Belady keeps {1, 2} throughout (3 and 4 are never used again)
    const seq = seqOf([[1], [2], [3], [1], [2], [4], [1], [2]]);
    expect(misses(belady(2, seq), seq)).toBe(4);
    expect(misses(lru(2), seq)).toBe(8);
    expect(misses(lastRSteps(1), seq)).toBe(8);
    expect(misses(lastRSteps(3), seq)).toBe(4);
  });

  it('Belady is optimal (exhaustive search) and never worse than LRU on random sequences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 4 }),
        (raw, capacity) => {
          const seq = seqOf(raw);
          const best = misses(belady(capacity, seq), seq);
          expect(best).toBe(optimalMisses(seq, capacity));
          expect(best).toBeLessThanOrEqual(misses(lru(capacity), seq));
          expect(best).toBeGreaterThanOrEqual(new Set(raw.flat()).size);
        },
      ),
      { numRuns: 150, seed: 9 },
    );
  });

  it('Belady rejects a sequence other than the one it was built from, and a bad capacity', () => {
    const seq = seqOf([[1], [2]]);
    const policy = belady(1, seq);
    policy.access(0, Int32Array.from([1]), [1]);
    expect(() => policy.access(1, Int32Array.from([3]), [1])).toThrow(/recorded/);
    expect(() => belady(0, seq)).toThrow(/cacheCapacity/);
  });

  it('policy specs are parsed, and bad ones named', () => {
    expect(parsePolicySpecs('last-r:1, lru:4096,belady:64')).toEqual([
      { kind: 'last-r', value: 1 },
      { kind: 'lru', value: 4096 },
      { kind: 'belady', value: 64 },
    ]);
    expect(() => parsePolicySpecs('lru')).toThrow(/policy 'lru'/);
    expect(() => parsePolicySpecs('fifo:3')).toThrow(/policy 'fifo:3'/);
    expect(() => parsePolicySpecs('lru:0')).toThrow(/policy 'lru:0'/);
  });
});

describe('simulateCache', () => {
  it('counts tokens hit and bytes moved from unit sizes (hand-worked)', () => {
    // units 7 (10 tokens), 8 (5 tokens), 9 (3 tokens); last-r:1
    const seq: AccessSequence = {
      method: 'm', budget: 15, layer: 0, kvHead: 0, unitKind: 'cluster', steps: [0, 1, 2], positions: [100, 101, 102],
      requests: [
        { ids: Int32Array.from([7, 8]), sizes: Int32Array.from([10, 5]) },
        { ids: Int32Array.from([7, 9]), sizes: Int32Array.from([10, 3]) },
        { ids: Int32Array.from([8]), sizes: Int32Array.from([5]) },
      ],
    };
    const rows = simulateCache([seq], parsePolicySpecs('last-r:1'), { headDim: 4, bytesPerElement: 2 }).objects() as Record<string, number>[];
    const perToken = 2 * 4 * 2;
    expect(rows.map((r) => r.tokensSelected)).toEqual([15, 13, 5]);
    expect(rows.map((r) => r.tokensHit)).toEqual([0, 10, 0]);
    expect(rows.map((r) => r.bytesMoved)).toEqual([15 * perToken, 3 * perToken, 5 * perToken]);
    expect(rows[1].hitRate).toBeCloseTo(10 / 13, 12);
  });
});

describe('recording a replay', () => {
  let trace: string;
  beforeAll(async () => {
    await useBackend('wasm');
    trace = await smallTrace({ layers: 1, context: 512, steps: 6 });
  });

  it('records units per KV head, leaks no tensors, and Belady <= LRU misses on real selections', async () => {
    const reader = await TraceReader.open(trace);
    const methods = [
      createMethod('quest', { budget: 64, pageSize: 16, denseLayers: 0 }),
      createMethod('streaming', { budget: 64, denseLayers: 0 }),
      createMethod('clusterkv', { budget: 64, denseLayers: 0, tokensPerCluster: 32 }),
      createMethod('h2o', { budget: 64 }), // layer 0 is dense by default: nothing recorded
    ];
    await recordUnitAccesses(reader, methods);
    const before = tf.memory().numTensors;
    const seqs = await recordUnitAccesses(reader, methods);
    expect(tf.memory().numTensors).toBe(before);
    await reader.close();
    expect(seqs.map((s) => `${s.method}/${s.kvHead}/${s.unitKind}`)).toEqual(['quest/0/page', 'quest/1/page', 'streaming/0/token', 'streaming/1/token', 'clusterkv/0/cluster', 'clusterkv/1/cluster']);
    for (const s of seqs) {
      expect(s.requests).toHaveLength(6);
      for (const r of s.requests) {
        const tokens = r.sizes.reduce((a, b) => a + b, 0);
        // whole units of at least the budget; streaming's heads share one recent window of exactly 64
        if (s.method === 'streaming') expect(tokens).toBe(64);
        else expect(tokens).toBeGreaterThanOrEqual(64);
        expect(new Set(r.ids).size).toBe(r.ids.length);
      }
    }
    const table = simulateCache(seqs, parsePolicySpecs('last-r:1,lru:4,belady:4'), { headDim: 32 });
    const summary = summarizeCache(table).objects() as Record<string, number | string>[];
    // methods and policies in the order given (issue 22, item 13: the summary sorted them by name)
    expect(summary.map((r) => `${r.method} ${r.policy}`)).toEqual(['quest', 'streaming', 'clusterkv'].flatMap((m) => ['last-r:1', 'lru:4', 'belady:4'].map((p) => `${m} ${p}`)));
    const bytes = (method: string, policy: string) => summary.find((r) => r.method === method && r.policy === policy)!.bytesMoved as number;
    for (const m of ['quest', 'streaming', 'clusterkv']) expect(bytes(m, 'belady:4')).toBeLessThanOrEqual(bytes(m, 'lru:4') + 1e-9);
    // streaming's window does not move within a decode window (320 tokens): every step after the first hits
    expect(summary.find((r) => r.method === 'streaming' && r.policy === 'last-r:1')!.hitRateWarm).toBe(1);
  });
});

describe('clusterkv cachesim (CLI)', () => {
  const root = path.join(__dirname, '..', '..');
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'clusterkv.js'), ...args], { cwd: root, encoding: 'utf8' });

  it('prints a summary and writes CSV; bad policies are a one-line user error', async () => {
    const file = await smallTrace({ layers: 1, context: 384, steps: 3 });
    const out = tempDir();
    const run = cli('cachesim', file, '--methods', 'quest,streaming', '--budget', '64', '--policies', 'last-r:1,lru:8,belady:8', '--param', 'denseLayers=0', '--out', out, '--backend', 'wasm');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/quest\s+64\s+belady:8/);
    expect(run.stdout).toMatch(/streaming\s+64\s+last-r:1/);
    expect(existsSync(path.join(out, 'cachesim.csv'))).toBe(true);
    const csv = readFileSync(path.join(out, 'cachesim-summary.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('method,budget,policy,hitRate,hitRateWarm,mbPerStep,tokensSelected,bytesMoved,steps');
    expect(csv).toHaveLength(1 + 2 * 3);

    const bad = cli('cachesim', file, '--policies', 'fifo:2', '--backend', 'wasm');
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^clusterkv: --policies: policy 'fifo:2'/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('unit requests of a selection with empty slots', () => {
  it('a token-selecting method\'s empty slots (negative positions) are no units', async () => {
    useBackend('cpu');
    // H 4, G 2, sinks [0, 2), open window from 20: heads 0 and 1 chose 3 and 1 tokens, heads 2 and 3 two each
    const tokens = tf.tensor2d([[0, 1, 5, 6, 7, 20], [0, 1, 6, -1, -1, 20], [0, 1, 9, -1, 10, 20], [0, 1, 11, 12, -1, 20]], [4, 6], 'int32');
    const { kind, requests } = await unitRequests({ tokens, selectedCount: 3, selectedPerHead: Int32Array.from([3, 1, 2, 2]) }, 4, 2, () => ({ sinkEnd: 2, openStart: 20 }));
    tokens.dispose();
    expect(kind).toBe('token');
    expect(requests.map((r) => [...r.ids].sort((a, b) => a - b))).toEqual([[5, 6, 7], [9, 10, 11, 12]]);
  });
});
