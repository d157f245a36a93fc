/**
 * Tuning knobs of the WGSL kernels: one typed object per kernel family, declared next to its kernels with
 * `tunable(defaults)`:
 *
 *   attentionTuning          attention/decode-attention.ts     chunk lengths, workgroups, loads of the decode attention
 *   subgroupAttentionTuning  attention/subgroup-attention.ts   rows and tiles in flight, subgroups, lanes, f16 decode
 *   selectTuning             select/select-clusters.ts         threads per workgroup of the select kernel
 *   thresholdSelectTuning    select/select-threshold.ts        subgroups, score bins, lanes of the threshold select
 *   kmeansTuning             kmeans/kmeans-passes.ts           assignment tiles, segment-sum parts, sorted update, subgroup merge
 *   gemvTuning               engine/gemv.ts                    the GEMV work split per batch (an engine may pass its own)
 *   subgroupTuning           runtime/capabilities.ts           whether the subgroup kernels run (CLUSTERKV_SUBGROUPS=off), test emulation
 *
 * The kernels read the object's fields when they build a shader or plan a dispatch; everywhere else the
 * objects are read-only (typed Readonly). The one way to change knobs is withTuning(knobs, overrides, f): the
 * overrides hold while f runs (sync, or until its promise settles), then the previous values return
 * (bench/suites/tune-kernels.ts, test/gpu/wgsl/kernels.test.ts). Shader sources are memoised by the knob values they
 * use, so each variant compiles once. A new kernel family declares its own object the same way.
 */

const defaultsOf = new WeakMap<object, object>();

/** The live knob object of a kernel family, starting at `defaults` (kept: tuningDefaults). */
export function tunable<T extends object>(defaults: T): Readonly<T> {
  const knobs = { ...defaults };
  defaultsOf.set(knobs, Object.freeze({ ...defaults }));
  return knobs;
}

/** The values a family's knobs started with. */
export function tuningDefaults<T extends object>(knobs: Readonly<T>): Readonly<T> {
  const defaults = defaultsOf.get(knobs);
  if (!defaults) throw new RangeError('not a knob object made by tunable()');
  return defaults as T;
}

/**
 * Runs f with `overrides` applied to `knobs`, then restores the previous values (also when f throws or
 * rejects). Nested calls restore in turn. An override of a knob the family does not have is an error.
 */
export function withTuning<T extends object, R>(knobs: Readonly<T>, overrides: Partial<T>, f: () => R): R {
  const defaults = tuningDefaults(knobs);
  const target = knobs as T;
  const keys = Object.keys(overrides) as (keyof T)[];
  for (const key of keys) if (!(key in defaults)) throw new RangeError(`unknown tuning knob '${String(key)}' (the family has ${Object.keys(defaults).join(', ')})`);
  const saved: Partial<T> = {};
  for (const key of keys) saved[key] = target[key];
  const restore = () => Object.assign(target, saved);
  Object.assign(target, overrides);
  let result: R;
  try {
    result = f();
  } catch (err) {
    restore();
    throw err;
  }
  if (result instanceof Promise) return result.finally(restore) as R;
  restore();
  return result;
}
