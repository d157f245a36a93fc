/**
 * `clusterkv cachesim TRACE --methods clusterkv,quest --budget 512 --policies last-r:1,lru:4096,belady:4096 [--out DIR]`:
 * replays the trace, records each method's selected units per layer and KV head, simulates the GPU cache
 * under each policy and prints hit rate and bytes moved per step; --out writes the per-step table and the
 * summary as CSV.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { parsePolicySpecs, recordUnitAccesses, simulateCache, summarizeCache } from '../../sim/cachesim.js';
import { checkSparseLayers } from '../../sim/sparse-layers.js';
import { createMethod, methodParamNames, resolveMethodNames } from '../../sim/methods/index.js';
import type { ParamValue } from '../../sim/selector.js';
import { TraceReader } from '../../trace/index.js';
import { checkOutputFolder, UserError } from '../errors.js';
import { backendOption } from '../options.js';
import { collect, parseIntFlag, parseIntList, parseNameList, parseParamFlags } from '../parse.js';
import { progressBar } from '../progress.js';
import { formatTable } from '../table.js';
import { checkTraceInput } from '../trace-input.js';
import { denseBudgetsWarning, HeldWarnings } from '../warn.js';

export interface CacheSimFlags {
  methods: string;
  budget: string;
  policies: string;
  out?: string;
  layers?: string;
  param: string[];
  bytesPerElement: string;
  backend?: string;
  json?: boolean;
}

/** One value per --param; each goes to the methods that take it, and one no method takes is an error. */
function methodParams(methods: string[], flags: string[]): Record<string, Record<string, ParamValue>> {
  const out: Record<string, Record<string, ParamValue>> = Object.fromEntries(methods.map((m) => [m, {}]));
  for (const [name, value] of Object.entries(parseParamFlags(flags, 'cachesim'))) {
    const takers = methods.filter((m) => methodParamNames(m).includes(name));
    if (takers.length === 0) throw new UserError(`--param ${name}: none of ${methods.join(', ')} takes a parameter '${name}'`);
    for (const m of takers) out[m][name] = value;
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('cachesim')
    .description('simulate a bounded GPU cache of the units (clusters, pages, blocks, tokens) methods select: hit rate and bytes moved host->GPU per step')
    .argument('<trace>', 'trace file (.safetensors, format v1)')
    .option('--methods <list>', 'budgeted methods, comma-separated', 'clusterkv,quest')
    .option('--budget <n>', 'token budget B', '512')
    .option('--policies <list>', 'cache policies: last-r:R (units of the last R steps), lru:C, belady:C (C = capacity in units)', 'last-r:1,lru:4096,belady:4096')
    .option('--out <dir>', 'write cachesim.csv (per step) and cachesim-summary.csv there')
    .option('--layers <list>', 'layers to simulate (default all)')
    .option('--param <name=value>', 'a method parameter (repeatable), given to every listed method that takes it', collect, [])
    .option('--bytes-per-element <n>', 'bytes per K/V element on the GPU (2 for fp16)', '2')
    .addOption(backendOption())
    .option('--json', 'print the summary as JSON instead of a table')
    .action(async (trace: string, flags: CacheSimFlags) => {
      const names = resolveMethodNames(parseNameList('--methods', flags.methods));
      const budget = parseIntFlag('--budget', flags.budget, 1);
      const bytesPerElement = parseIntFlag('--bytes-per-element', flags.bytesPerElement, 1);
      const layers = flags.layers ? parseIntList('--layers', flags.layers, 0) : undefined;
      let policies;
      try {
        policies = parsePolicySpecs(flags.policies);
      } catch (err) {
        throw new UserError(`--policies: ${(err as Error).message}`);
      }
      const params = methodParams(names, flags.param);
      const methods = names.map((name) => {
        if (name === 'full') throw new UserError('--methods: full attends everything, so there is nothing to cache; pick budgeted methods');
        return createMethod(name, { ...params[name], budget });
      });
      // bad inputs fail here, before backend start-up and the replay
      if (flags.out) checkOutputFolder(flags.out);
      const warnings = new HeldWarnings();
      warnings.hold(denseBudgetsWarning('--budget', [budget], (await checkTraceInput(trace)).prefillLength, `prompt positions of ${trace}`));
      await useBackend(flags.backend);
      const reader = await TraceReader.open(trace);
      const bar = progressBar('cachesim');
      try {
        const chosen = layers ?? Array.from({ length: reader.manifest.model.layers }, (_, l) => l);
        checkSparseLayers(methods, chosen);
        warnings.flush();
        const sequences = [];
        // one layer at a time, so that progress shows
        for (const [i, layer] of chosen.entries()) {
          bar.update(i, chosen.length, `layer ${layer}`);
          sequences.push(...(await recordUnitAccesses(reader, methods, { layers: [layer] })));
        }
        bar.update(chosen.length, chosen.length);
        bar.stop();
        const table = simulateCache(sequences, policies, { headDim: reader.manifest.model.headDim, bytesPerElement });
        const summary = summarizeCache(table);
        const files = flags.out ? [path.join(flags.out, 'cachesim.csv'), path.join(flags.out, 'cachesim-summary.csv')] : [];
        if (flags.out) {
          mkdirSync(flags.out, { recursive: true });
          writeFileSync(files[0], aq.toCSV(table));
          writeFileSync(files[1], aq.toCSV(summary));
        }
        if (flags.json) {
          console.log(JSON.stringify({ trace, budget, files, summary: summary.objects() }, null, 2));
          return;
        }
        console.log(formatTable(summary.objects() as Record<string, unknown>[], ['method', 'budget', 'policy', 'hitRate', 'hitRateWarm', 'mbPerStep']));
        console.log('\nhitRate: tokens in resident units / tokens selected (whole units move); hitRateWarm: after the first step; mbPerStep: MB moved host->GPU per decode step, all simulated layers and KV heads');
        if (flags.out) console.log(`-> ${files.join(', ')}`);
      } finally {
        bar.stop();
        await reader.close();
      }
    });
}
