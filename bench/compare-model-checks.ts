/**
 * Compares two model-check runs (bench/model-check.ts) of the same model and prompt on two backends: per
 * attention, the generated ids and, at the first divergence, both backends' top-1 / top-2 logit gaps there.
 * A divergence counts as float rounding when the reference's gap at that step is below --tolerance (two
 * candidates within rounding of each other, so either backend may pick either).
 *
 *   tsx bench/compare-model-checks.ts REFERENCE.json OTHER.json [--tolerance 0.01] [--out F.json]
 * Exit 1 when a run diverges where the gap was clear.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { tolerance: { type: 'string', default: '0.01' }, out: { type: 'string' } } });
if (positionals.length !== 2) {
  console.error('usage: tsx bench/compare-model-checks.ts REFERENCE.json OTHER.json [--tolerance 0.01] [--out F.json]');
  process.exit(2);
}
interface Run { attention: string; ids: number[]; gaps: number[]; prefillTokensPerSecond: number; decodeTokensPerSecond: number }
interface Check { backend: string; context: number; steps: number; model: string; runs: Run[] }
const [ref, other] = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Check);
if (ref.context !== other.context || ref.steps !== other.steps) {
  console.error(`the runs differ in context or steps (${ref.context}/${ref.steps} vs ${other.context}/${other.steps})`);
  process.exit(2);
}
// the model lives at different paths on different machines: say which, the caller vouches they are the same files
if (ref.model !== other.model) console.log(`models: ${ref.model} (${ref.backend}) and ${other.model} (${other.backend})`);
const tolerance = Number(args.tolerance);
let clearDivergence = false;
const results = ref.runs.map((r) => {
  const o = other.runs.find((x) => x.attention === r.attention);
  if (!o) throw new Error(`${positionals[1]} has no ${r.attention} run`);
  const n = Math.min(r.ids.length, o.ids.length);
  let first = -1;
  for (let i = 0; i < n; i++) if (r.ids[i] !== o.ids[i]) { first = i; break; }
  const result = {
    attention: r.attention,
    steps: n,
    sameTokens: first < 0 && r.ids.length === o.ids.length,
    firstDivergence: first < 0 ? null : { step: first, referenceId: r.ids[first], otherId: o.ids[first], referenceGap: r.gaps[first], otherGap: o.gaps[first], rounding: r.gaps[first] < tolerance },
    minGapBefore: Math.min(...r.gaps.slice(0, first < 0 ? n : first)),
  };
  if (result.firstDivergence && !result.firstDivergence.rounding) clearDivergence = true;
  const verdict = first < 0
    ? `same ${n} tokens (smallest top-1/top-2 gap ${result.minGapBefore.toFixed(4)})${r.ids.length !== o.ids.length ? `; the runs generated ${r.ids.length} and ${o.ids.length} tokens` : ''}`
    : `first divergence at step ${first}: ${ref.backend} ${r.ids[first]} vs ${other.backend} ${o.ids[first]}, top-1/top-2 gap ${r.gaps[first].toExponential(2)} (${ref.backend}) / ${o.gaps[first].toExponential(2)} (${other.backend}): ${result.firstDivergence!.rounding ? 'within float rounding' : 'NOT explained by rounding'}`;
  console.log(`${r.attention}: ${verdict}; decode ${r.decodeTokensPerSecond.toFixed(1)} vs ${o.decodeTokensPerSecond.toFixed(1)} tok/s, prefill ${r.prefillTokensPerSecond.toFixed(0)} vs ${o.prefillTokensPerSecond.toFixed(0)} tok/s`);
  return result;
});
if (args.out) writeFileSync(args.out, JSON.stringify({ reference: ref.backend, other: other.backend, context: ref.context, tolerance, results }, null, 2));
process.exit(clearDivergence ? 1 : 0);
