/**
 * Every kind of benchmark run file the one merge knows (src/sim/bench/merge-runs.ts), by the suite that writes
 * it: kernels and contexts (kernel bench), e2e and engine-1b (e2e), model (model check), engine (engine run),
 * passkey (passkey run), torch, tune (kernel tuning; set gemv: GEMV splits). test/sim/bench/results-files.test.ts
 * checks every committed file of bench/results/ against them.
 */
import { e2eKind } from '../src/model/engine/e2e-merge.js';
import { engineRunKind } from '../src/model/engine/engine-run-file.js';
import { passkeyRunKind } from '../src/model/passkey/passkey-run-file.js';
import { kernelBenchKind } from '../src/sim/bench/bench-file.js';
import type { AnyRunKind } from '../src/sim/bench/merge-runs.js';
import { modelCheckKind } from '../src/sim/bench/model-check-file.js';
import { torchKind } from '../src/sim/bench/torch-file.js';
import { gemvTuningKind, tuneKind } from '../src/sim/bench/tune-file.js';

export const RUN_KINDS: readonly AnyRunKind[] = [kernelBenchKind, e2eKind, modelCheckKind, engineRunKind, passkeyRunKind, torchKind, tuneKind, gemvTuningKind];
