/**
 * The subgroup and f16 kernels as a GPU with those features compiles them: on Dawn's null backend (which
 * offers shader-f16, subgroups and subgroup-size-control but runs nothing) every variant the knobs and shapes
 * give must pass Tint's validation (uniformity analysis included) and make a valid compute pipeline. The
 * software adapter has neither feature, so its tests run the same kernels with subgroups emulated
 * (kernels.test.ts); this file checks the native text. The null device allows 16 KiB of workgroup memory:
 * variants past that are the ones the kernels' fits predicates refuse there (and the test checks they do).
 */
import { describe, expect, it } from 'vitest';
import { subgroupAttentionFits, subgroupAttentionTuning, subgroupLayout, subgroupPartialShader } from '../../../src/gpu/wgsl/attention/subgroup-attention.js';
import { assignShader } from '../../../src/gpu/wgsl/kmeans/kmeans-passes.js';
import { histogramShader, offsetsShader, scatterShader, sortedUpdateShader } from '../../../src/gpu/wgsl/kmeans/sorted-sums.js';
import { subgroupMode } from '../../../src/gpu/wgsl/runtime/capabilities.js';
import { compileMessages, pipeline, webgpuBackend } from '../../../src/gpu/wgsl/runtime/runtime.js';
import { withTuning } from '../../../src/gpu/wgsl/runtime/tuning.js';
import { thresholdSelectFits, thresholdSelectShader, thresholdSelectTuning } from '../../../src/gpu/wgsl/select/select-threshold.js';
import { nullWebgpu } from '../../helpers/null-webgpu.js';

const skip = await nullWebgpu();

/** Compiler errors of `code`, then pipeline-creation errors. */
async function problems(code: string): Promise<string[]> {
  const errors = (await compileMessages(code)).filter((m) => m.startsWith('error'));
  if (errors.length) return errors;
  const { device } = webgpuBackend();
  device.pushErrorScope('validation');
  pipeline(code);
  const err = await device.popErrorScope();
  return err ? [err.message] : [];
}

describe.skipIf(!!skip)('native subgroup and f16 kernels (Dawn null backend)', () => {
  it('has a native subgroup mode with a fixed size', () => {
    expect(subgroupMode()).toMatchObject({ kind: 'native', size: 32, sizeControl: true });
  });

  it('compiles every decode attention variant', async () => {
    for (const knobs of [{}, { denseRows: 2, sparseRows: 8, subgroups: 1 }, { denseRows: 8, subgroups: 8, vectorsPerLane: 2 }, { f16Decode: 'f16' as const }, { tilesInFlight: 2 }, { tilesInFlight: 3, denseRows: 8, sparseRows: 2 }, { scoreReduction: 'transposed' as const }, { scoreReduction: 'transposed' as const, tilesInFlight: 2, denseRows: 8, f16Decode: 'f16' as const }]) {
      await withTuning(subgroupAttentionTuning, knobs, async () => {
        for (const sparse of [false, true]) {
          for (const kv of ['f16', 'f32'] as const) {
            for (const [d, R] of [[128, 4], [64, 1], [32, 8], [16, 3]]) {
              const l = subgroupLayout(sparse, kv, d, R);
              expect(l, `${sparse} ${kv} ${d}`).toBeDefined();
              const found = await problems(subgroupPartialShader(l!));
              if (subgroupAttentionFits(4 * R, 4, d, kv)) expect(found, JSON.stringify(l)).toEqual([]);
              else if (found.length) expect(found.join(' '), JSON.stringify(l)).toMatch(/workgroup storage/);
            }
          }
        }
      });
    }
  });

  it('compiles every select variant', async () => {
    for (const knobs of [{}, { subgroups: 4, bins: 64, vectorsPerLane: 1 }, { subgroups: 16, bins: 512 }]) {
      await withTuning(thresholdSelectTuning, knobs, async () => {
        for (const full of [false, true]) {
          for (const kv of ['f16', 'f32'] as const) {
            for (const [K, D] of [[400, 128], [1639, 128], [1, 8], [7, 16]]) {
              const found = await problems(thresholdSelectShader(full, K, D, kv));
              if (thresholdSelectFits(K, D, kv)) expect(found, `${full} ${kv} ${K} ${D}`).toEqual([]);
              else if (found.length) expect(found.join(' '), `${full} ${kv} ${K} ${D}`).toMatch(/workgroup storage|storage buffers/);
            }
          }
        }
      });
    }
  });

  it('compiles the K-means kernels with f16 keys and the subgroup merge', async () => {
    const mode = subgroupMode();
    for (const kv of ['f16', 'f32'] as const) {
      // the subgroup merge where the tiles leave room for its counter (8 x 8 x 8 fill the null device's 16 KiB)
      for (const [TM, TN, BK] of [[8, 8, 8], [4, 4, 8], [4, 8, 16]]) expect(await problems(assignShader(128, TM, TN, BK, kv)), `${kv} ${TM}x${TN}x${BK}`).toEqual([]);
      expect(await problems(assignShader(128, 4, 4, 8, kv, mode))).toEqual([]);
      expect(await problems(sortedUpdateShader(128, kv))).toEqual([]);
    }
    for (const code of [histogramShader(400), offsetsShader(1639), scatterShader(400)]) expect(await problems(code)).toEqual([]);
  });
});
