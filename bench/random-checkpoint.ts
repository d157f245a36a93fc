/**
 * Writes a Hugging Face checkpoint of a real model's shape with seeded random weights (no download), for the
 * engine's memory checks and speed runs (src/model/random-checkpoint.ts says what is in it):
 *   tsx bench/random-checkpoint.ts --shape llama-3.2-1b --out DIR [--dtype F16|BF16|F32] [--seed 0]
 *                                  [--layers N] [--vocab V] [--shard-gb 4]
 * Shapes: qwen2.5-0.5b, llama-3.2-1b, llama-3-8b (16 GB at F16: write it on the machine that runs it).
 */
import { parseArgs } from 'node:util';
import { RANDOM_CHECKPOINT_SHAPES, writeRandomCheckpoint, type CheckpointDType } from '../src/model/random-checkpoint.js';

const { values: args } = parseArgs({
  options: {
    shape: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string', default: 'F16' },
    seed: { type: 'string', default: '0' },
    layers: { type: 'string' },
    vocab: { type: 'string' },
    'shard-gb': { type: 'string', default: '4' },
  },
});
if (!args.shape || !args.out || !['F16', 'BF16', 'F32'].includes(args.dtype!)) {
  console.error(`usage: tsx bench/random-checkpoint.ts --shape ${Object.keys(RANDOM_CHECKPOINT_SHAPES).join('|')} --out DIR [--dtype F16|BF16|F32] [--seed N] [--layers N] [--vocab V] [--shard-gb G]`);
  process.exit(1);
}
const t0 = performance.now();
let shown = -1;
const r = writeRandomCheckpoint(args.out, {
  shape: args.shape,
  dtype: args.dtype as CheckpointDType,
  seed: Number(args.seed),
  layers: args.layers ? Number(args.layers) : undefined,
  vocab: args.vocab ? Number(args.vocab) : undefined,
  shardBytes: Number(args['shard-gb']) * 1e9,
  progress: (done, total) => {
    const pct = Math.floor((100 * done) / total);
    if (pct >= shown + 10) {
      shown = pct;
      process.stderr.write(`${pct}% of ${(total / 1e9).toFixed(2)} GB\n`);
    }
  },
});
console.log(`${r.dir}: ${args.shape}, ${(r.parameters / 1e9).toFixed(3)}B parameters, ${(r.bytes / 1e9).toFixed(2)} GB ${args.dtype} in ${r.files.length} file(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
