/** `clusterkv export`: write a subset of a trace (layers, KV heads, steps), optionally converting the dtype. */
import { stat } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { exportTrace } from '../../trace/index.js';
import { checkNotInput, checkOutputFile, UserError } from '../errors.js';
import { parseIntList } from '../parse.js';
import { count } from '../table.js';

interface ExportFlags {
  out: string;
  layers?: string;
  kvHeads?: string;
  heads?: string;
  steps?: string;
  dtype?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('export a subset of a trace (layers, KV heads with their query heads, decode steps) and convert F16/F32')
    .argument('<trace>', 'source trace .safetensors file')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--layers <list>', 'layers to keep, e.g. 0,1 (renumbered in the given order; the manifest records the source layers)')
    .option('--kv-heads <list>', 'KV heads to keep, e.g. 0 (their query heads follow)')
    // `--heads` means query heads in sweep; here it would mean KV heads: refused with a pointer to --kv-heads
    .addOption(new Option('--heads <list>').hideHelp())
    .option('--steps <list>', 'decode step indices to keep, e.g. 0,3')
    .option('--dtype <F16|F32>', 'dtype of the output (default: the source dtype)')
    .option('--json', 'print the summary as JSON (file, bytes, manifest)')
    .action(async (src: string, flags: ExportFlags) => {
      if (flags.heads !== undefined) {
        throw new UserError(`export --heads: use --kv-heads ${flags.heads} (export keeps KV heads, each with its query heads; sweep's --heads picks query heads)`);
      }
      const dtype = flags.dtype?.toUpperCase();
      if (dtype !== undefined && dtype !== 'F16' && dtype !== 'F32') throw new UserError(`--dtype must be F16 or F32, got '${flags.dtype}'`);
      const options = {
        layers: flags.layers !== undefined ? parseIntList('--layers', flags.layers, 0) : undefined,
        kvHeads: flags.kvHeads !== undefined ? parseIntList('--kv-heads', flags.kvHeads, 0) : undefined,
        steps: flags.steps !== undefined ? parseIntList('--steps', flags.steps, 0) : undefined,
        dtype: dtype as 'F16' | 'F32' | undefined,
      };
      checkOutputFile(flags.out);
      checkNotInput(flags.out, src);
      const m = await exportTrace(src, flags.out, options);
      if (flags.json) {
        console.log(JSON.stringify({ file: flags.out, bytes: (await stat(flags.out)).size, manifest: m }, null, 2));
        return;
      }
      console.log(`wrote ${flags.out}: ${count(m.model.layers, 'layer')}, ${count(m.model.heads, 'head')}, ${count(m.model.kvHeads, 'KV head')}, ${count(m.stepPositions.length, 'step')}, ${m.dtype}`);
      const kept = options.layers;
      if (kept && kept.some((l, i) => l !== i)) {
        // methods keep their first denseLayers dense by number: renumbered layers change which ones that is
        console.log(`layers ${kept.join(', ')} of the source are layers ${kept.map((_, i) => i).join(', ')} here (the manifest's exportedFrom records the source layers); a sweep's denseLayers counts the new numbers`);
      }
    });
}
