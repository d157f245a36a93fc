/**
 * Suite tune: the WGSL kernels' tuning variants on webgpu, in fresh processes (`bench/run.ts once tune` or
 * `once gemv` each).
 *   --set attention  decode attention's defaults against one knob changed at a time and against the defaults
 *                    before the tuning, at 8K, 32K and 128K, heated: the committed tune-attention-webgpu-h200.json
 *   --set kernels    every knob of the attention, select and K-means kernels at 32K (one process is the record)
 *   --set core       the defaults only (e.g. with CLUSTERKV_DAWN_TOGGLES=disable_robustness)
 *   --set subgroup   the subgroup and f16 kernels' knobs one at a time, against the older kernels, each checked
 *                    against the op chain (issue 19), at 32K; the defaults at 8K and 128K; K-means' updates
 *   --set prefetch   loads in flight only: the subgroup attention (tiles in flight 2, 3; 8 rows) and the threshold
 *                    select (score passes and output slots 1, 2, 8 against the default 4) at 32K
 *   --set reduction  the subgroup attention's score reduction: butterfly (default) against transposed, with
 *                    rows, tiles in flight and vectors per lane around it, checked against the op chain; both at 128K
 *   --set gemv       the end-to-end engine's GEMV work splits per product of a decode step, batch 1 and 8, of
 *                    --model-shape (the e2e Llama-3-8B shape, or a random checkpoint's) with --weights f32|f16
 */
import { gemvTuningKind, tuneKind } from '../../src/sim/bench/tune-file.js';
import { nodeCommand, type Suite, type SuiteRun } from '../suite.js';
import { TUNE_SETS } from './tune-kernels.js';
import { DEFAULT_GEMV_MODEL, GEMV_MODELS } from './tune-gemv.js';

const SETS: readonly string[] = [...TUNE_SETS, 'gemv'];

const setOf = (run: Pick<SuiteRun, 'options'>) => {
  const set = String(run.options.set);
  if (!SETS.includes(set)) throw new RangeError(`--set must be one of ${SETS.join(', ')}, got '${set}'`);
  return set;
};

export const tuneSuite: Suite = {
  name: 'tune',
  description: 'the WGSL kernels\' tuning variants (sets attention, kernels, core, subgroup, prefetch, reduction) or the engine\'s GEMV splits (set gemv) on webgpu',
  processes: 3,
  kind: (run) => (setOf(run) === 'gemv' ? gemvTuningKind : tuneKind),
  // set gemv of another model shape or weight storage: its own label, so runs of different shapes never merge
  label: (options) => {
    const set = setOf({ options });
    const gemvOf = set === 'gemv' && (options.modelShape !== DEFAULT_GEMV_MODEL || options.weights !== 'f32') ? `-${options.modelShape}-${options.weights}` : '';
    return `tune-${set}${gemvOf}`;
  },
  heats: true,
  timeoutS: 200,
  options: [
    ['--set <name>', `what to tune: ${SETS.join(', ')}`, 'attention'],
    ['--splits <list>', 'set gemv: the splits threadsPerRow,rowsPerThread,unroll, separated by spaces (default: eight of them)'],
    ['--model-shape <name>', `set gemv: the model whose decode-step products are timed (${GEMV_MODELS.join(', ')})`, DEFAULT_GEMV_MODEL],
    ['--weights <dtype>', 'set gemv: how the weights are stored, f32 or f16', 'f32'],
  ],
  jobs: (run) => {
    const set = setOf(run);
    if (set === 'gemv') return [{ name: 'tune-gemv', argv: nodeCommand('driver', ['once', 'gemv', ...(run.options.splits ? ['--splits', String(run.options.splits)] : []), '--model-shape', String(run.options.modelShape), '--weights', String(run.options.weights), '--out', '{out}']) }];
    return [{ name: `tune-${set}`, argv: nodeCommand('driver', ['once', 'tune', '--set', set, '--heat-ms', String(run.heatMs), '--size', run.size, '--out', '{out}']) }];
  },
};
