/**
 * Trace format v1 manifest: the JSON stored under `__metadata__.trace` of a .safetensors file.
 * See traces/README.md and docs/DESIGN.md#trace-format.
 */
import { z } from 'zod';

export const TRACE_FORMAT = 'clusterkv-trace';
export const TRACE_VERSION = 1;

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const traceManifestSchema = z
  .object({
    format: z.literal(TRACE_FORMAT),
    version: z.literal(TRACE_VERSION),
    source: z.object({
      kind: z.enum(['model', 'synthetic', 'import']),
      name: z.string(),
      sha256: z.string().optional(),
      prompt: z.string().optional(),
    }),
    model: z.object({
      layers: positiveInt,
      heads: positiveInt,
      kvHeads: positiveInt,
      headDim: positiveInt,
      ropeTheta: z.number().positive(),
    }),
    keys: z.literal('post-rope'),
    contextLength: positiveInt,
    prefillLength: nonNegativeInt,
    stepPositions: z.array(nonNegativeInt),
    dtype: z.enum(['F16', 'F32']),
    seed: z.number().int().optional(),
    createdBy: z.string(),
  })
  .passthrough()
  .superRefine((m, ctx) => {
    if (m.model.heads % m.model.kvHeads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['model', 'heads'], message: `heads (${m.model.heads}) must be a multiple of kvHeads (${m.model.kvHeads})` });
    }
    if (m.prefillLength > m.contextLength) {
      ctx.addIssue({ code: 'custom', path: ['prefillLength'], message: `prefillLength (${m.prefillLength}) exceeds contextLength (${m.contextLength})` });
    }
    m.stepPositions.forEach((p, i) => {
      if (p >= m.contextLength) {
        ctx.addIssue({ code: 'custom', path: ['stepPositions', i], message: `step position ${p} is past the context (contextLength ${m.contextLength})` });
      }
      if (i > 0 && p <= m.stepPositions[i - 1]) {
        ctx.addIssue({ code: 'custom', path: ['stepPositions', i], message: `step positions must increase (${m.stepPositions[i - 1]} then ${p})` });
      }
    });
  });

export type TraceManifest = z.infer<typeof traceManifestSchema>;
export type TraceDType = TraceManifest['dtype'];

/** Tensor names of one layer. Shapes: k, v [G, T, d]; q, out [S, H, d]. */
export function layerTensorNames(layer: number) {
  return { k: `layers.${layer}.k`, v: `layers.${layer}.v`, q: `layers.${layer}.q`, out: `layers.${layer}.out` } as const;
}
