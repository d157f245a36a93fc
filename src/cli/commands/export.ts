/** `clusterkv export`: write a subset of a trace (layers, KV heads, steps), optionally converting the dtype. */
import type { Command } from 'commander';
import { exportTrace } from '../../trace/index.js';
import { UserError } from '../errors.js';
import { parseIntList } from '../parse.js';

interface ExportFlags {
  out: string;
  layers?: string;
  heads?: string;
  steps?: string;
  dtype?: string;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('export a subset of a trace (layers, KV heads with their query heads, decode steps) and convert F16/F32')
    .argument('<trace>', 'source trace .safetensors file')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--layers <list>', 'layers to keep, e.g. 0,1 (renumbered in the given order)')
    .option('--heads <list>', 'KV heads to keep, e.g. 0 (their query heads follow)')
    .option('--steps <list>', 'decode step indices to keep, e.g. 0,3')
    .option('--dtype <F16|F32>', 'dtype of the output (default: the source dtype)')
    .action(async (src: string, flags: ExportFlags) => {
      const dtype = flags.dtype?.toUpperCase();
      if (dtype !== undefined && dtype !== 'F16' && dtype !== 'F32') throw new UserError(`--dtype must be F16 or F32, got '${flags.dtype}'`);
      const m = await exportTrace(src, flags.out, {
        layers: flags.layers !== undefined ? parseIntList('--layers', flags.layers, 0) : undefined,
        heads: flags.heads !== undefined ? parseIntList('--heads', flags.heads, 0) : undefined,
        steps: flags.steps !== undefined ? parseIntList('--steps', flags.steps, 0) : undefined,
        dtype: dtype as 'F16' | 'F32' | undefined,
      });
      console.log(`wrote ${flags.out}: ${m.model.layers} layers, ${m.model.heads} heads, ${m.model.kvHeads} KV heads, ${m.stepPositions.length} steps, ${m.dtype}`);
    });
}
