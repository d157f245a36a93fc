/** `clusterkv synth`: write a seeded synthetic trace (see src/trace/synth.ts for its structure). */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_SYNTH, writeSyntheticTrace, type SynthOptions } from '../../trace/index.js';
import { checkOutputFile, UserError } from '../errors.js';
import { parseIntFlag } from '../parse.js';
import { count } from '../table.js';

interface SynthFlags {
  out: string;
  layers: string;
  heads: string;
  kvHeads: string;
  headDim: string;
  context: string;
  steps: string;
  seed: string;
  dtype: string;
  topics: string;
  ropeTheta: string;
  json?: boolean;
}

/** Flags -> validated options; every error names its flag. */
export function synthOptionsFromFlags(flags: SynthFlags): SynthOptions {
  const o: SynthOptions = {
    layers: parseIntFlag('--layers', flags.layers, 1),
    heads: parseIntFlag('--heads', flags.heads, 1),
    kvHeads: parseIntFlag('--kv-heads', flags.kvHeads, 1),
    headDim: parseIntFlag('--head-dim', flags.headDim, 2),
    context: parseIntFlag('--context', flags.context, 2),
    steps: parseIntFlag('--steps', flags.steps, 1),
    seed: parseIntFlag('--seed', flags.seed, 0),
    topics: parseIntFlag('--topics', flags.topics, 1),
    ropeTheta: Number(flags.ropeTheta),
    dtype: flags.dtype.toUpperCase() as SynthOptions['dtype'],
  };
  if (o.dtype !== 'F16' && o.dtype !== 'F32') throw new UserError(`--dtype must be F16 or F32, got '${flags.dtype}'`);
  if (o.heads % o.kvHeads !== 0) throw new UserError(`--heads (${o.heads}) must be a multiple of --kv-heads (${o.kvHeads})`);
  if (o.headDim % 2 !== 0) throw new UserError(`--head-dim must be even (RoPE rotates pairs of dims), got ${o.headDim}`);
  if (o.steps >= o.context) throw new UserError(`--steps (${o.steps}) must be smaller than --context (${o.context})`);
  if (!Number.isFinite(o.ropeTheta) || (o.ropeTheta ?? 0) <= 1) throw new UserError(`--rope-theta must be a number > 1, got '${flags.ropeTheta}'`);
  return o;
}

export function register(program: Command): void {
  const d = DEFAULT_SYNTH;
  program
    .command('synth')
    .description('write a seeded synthetic trace (topic runs, attention sinks, outlier channels, local heads, RoPE)')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--layers <n>', 'layers', String(d.layers))
    .option('--heads <n>', 'query heads H', String(d.heads))
    .option('--kv-heads <n>', 'KV heads G (H a multiple of G)', String(d.kvHeads))
    .option('--head-dim <n>', 'head dimension d (even)', String(d.headDim))
    .option('--context <n>', 'context length T', String(d.context))
    .option('--steps <n>', 'decode steps S (positions T-S .. T-1)', String(d.steps))
    .option('--seed <n>', 'random seed', String(d.seed))
    .option('--dtype <F16|F32>', 'stored dtype', d.dtype)
    .option('--topics <n>', 'semantic topics', String(d.topics))
    .option('--rope-theta <x>', 'RoPE base', String(d.ropeTheta))
    .option('--json', 'print the summary as JSON (file, bytes, seconds, manifest)')
    .action(async (flags: SynthFlags) => {
      const opts = synthOptionsFromFlags(flags);
      checkOutputFile(flags.out);
      const started = Date.now();
      const m = await writeSyntheticTrace(flags.out, opts);
      const { size } = await stat(flags.out);
      const seconds = (Date.now() - started) / 1000;
      if (flags.json) {
        console.log(JSON.stringify({ file: flags.out, bytes: size, seconds, manifest: m }, null, 2));
        return;
      }
      console.log(
        `wrote ${flags.out}: ${count(m.model.layers, 'layer')}, ${count(m.model.heads, 'head')}, ${count(m.model.kvHeads, 'KV head')}, d ${m.model.headDim}, ` +
          `${count(m.contextLength, 'token')}, ${count(m.stepPositions.length, 'step')}, ${m.dtype}, seed ${m.seed} (${(size / 2 ** 20).toFixed(1)} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
    });
}
