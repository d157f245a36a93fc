/**
 * Bounded GPU cache simulation over a replay (docs/DESIGN.md#the-gpu-cache). The full KV lives off-GPU; at each decode
 * step a KV head must have on the GPU the units its query heads selected (the union over the group: what is
 * loaded). A policy decides what stays resident between steps:
 *   last-r:R       the units selected in the last R steps (ClusterKV's cache; unbounded)
 *   lru:C          at most C units, least recently used evicted
 *   belady:C       at most C units, evicting the one used furthest in the future (the optimum; a bound)
 * Capacity C counts UNITS (clusters, pages, blocks; tokens for token-level methods), as H2's lru does.
 * A missed unit moves whole (the unit is the transfer granule, even when the step cuts it), so tokens
 * selected = sum of the sizes of the step's units, and per step:
 *   hitRate    = tokens in resident units / tokens selected
 *   bytesMoved = tokens missed x 2 (K and V) x headDim x bytesPerElement
 * Forced positions (sinks, open window, current token) are resident by construction and not counted.
 *
 * Two passes: recordUnitAccesses replays the trace once and records each (method, layer, KV head)'s unit
 * sequence; simulateCache then runs every policy over it (Belady needs the whole sequence up front).
 */
import * as aq from 'arquero';
import type { TraceLayer, TraceReader } from '../trace/index.js';
import type { TraceManifest } from '../trace/manifest.js';
import { decodeLayout } from './budget.js';
import { belady, lastRSteps, lru, unionPerKvHead, type UnitCachePolicy, type UnitRequest } from './cache/index.js';
import { driveLayer } from './layer-driver.js';
import type { Method, Selection } from './selector.js';

export type { UnitRequest } from './cache/index.js';

/** The recorded unit sequence of one method on one (layer, KV head). */
export interface AccessSequence {
  method: string;
  budget: number;
  layer: number;
  kvHead: number;
  unitKind: string;
  steps: number[];
  positions: number[];
  requests: UnitRequest[];
}

export type CachePolicySpec = { kind: 'last-r' | 'lru' | 'belady'; value: number };

const POLICY_KINDS = ['last-r', 'lru', 'belady'] as const;

/** 'last-r:1', 'lru:4096', 'belady:4096' -> specs; errors name the bad item. */
export function parsePolicySpecs(text: string): CachePolicySpec[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new RangeError('policies: need at least one, e.g. last-r:1,lru:4096,belady:4096');
  return items.map((item) => {
    const [kind, value, extra] = item.split(':');
    const n = Number(value);
    if (extra !== undefined || !(POLICY_KINDS as readonly string[]).includes(kind) || value === undefined || !Number.isInteger(n) || n < 1) {
      throw new RangeError(`policy '${item}': expected KIND:N with KIND one of ${POLICY_KINDS.join(', ')} and N a positive integer (R steps, or capacity in units)`);
    }
    return { kind: kind as CachePolicySpec['kind'], value: n };
  });
}

export function policyLabel(spec: CachePolicySpec): string {
  return `${spec.kind}:${spec.value}`;
}

function makePolicy(spec: CachePolicySpec, seq: AccessSequence): UnitCachePolicy {
  if (spec.kind === 'last-r') return lastRSteps(spec.value);
  if (spec.kind === 'lru') return lru(spec.value);
  return belady(spec.value, seq.requests.map((r) => r.ids));
}

/**
 * The units one KV head loads at a step: the union over its query heads' selected units (with sizes), or,
 * for a method that reports no units, the selected tokens as units of one token (tokens minus the forced
 * positions of the method's own layout).
 */
export async function unitRequests(selection: Selection, heads: number, kvHeads: number, layoutOf: () => { sinkEnd: number; openStart: number }): Promise<{ kind: string; requests: UnitRequest[] }> {
  const group = heads / kvHeads;
  const requests: UnitRequest[] = [];
  const units = selection.units;
  if (units && units.sizes) return { kind: units.kind, requests: unionPerKvHead(units.ids, units.sizes, kvHeads) };
  if (selection.selectedCount === 0) {
    for (let g = 0; g < kvHeads; g++) requests.push({ ids: new Int32Array(0), sizes: new Int32Array(0) });
    return { kind: 'token', requests };
  }
  const { sinkEnd, openStart } = layoutOf();
  const [, n] = selection.tokens.shape;
  const tokens = (await selection.tokens.data()) as Int32Array;
  for (let g = 0; g < kvHeads; g++) {
    const seen = new Set<number>();
    for (let h = g * group; h < (g + 1) * group; h++) {
      for (let i = 0; i < n; i++) {
        const t = tokens[h * n + i];
        if (t >= sinkEnd && t < openStart) seen.add(t);
      }
    }
    const ids = Int32Array.from(seen);
    requests.push({ ids, sizes: new Int32Array(ids.length).fill(1) });
  }
  return { kind: 'token', requests };
}

function requireBudgeted(method: Method): void {
  if (!Number.isFinite(method.budget)) throw new RangeError(`cachesim: method '${method.name}' attends everything (no budget): nothing to cache`);
}

/** Replays one layer's tensors through the methods and records, per method and KV head, the unit sequence. */
export async function recordLayerAccesses(manifest: TraceManifest, layer: number, data: TraceLayer, methods: Method[]): Promise<AccessSequence[]> {
  const { heads, kvHeads } = manifest.model;
  const P = manifest.prefillLength;
  methods.forEach(requireBudgeted);
  /** whether a method attended densely at every step of this layer (its denseLayers): nothing to simulate */
  const allDense = methods.map(() => true);
  const out: AccessSequence[][] = methods.map((m) =>
    Array.from({ length: kvHeads }, (_, g) => ({ method: m.name, budget: m.budget, layer, kvHead: g, unitKind: 'token', steps: [], positions: [], requests: [] })),
  );
  await driveLayer(manifest, layer, data, methods, manifest.stepPositions.length - 1, {
    selection: async (m, step, selection) => {
      if (!selection.dense) allDense[m] = false;
      const params = methods[m].params;
      const layoutOf = () => {
        if (typeof params.sinks !== 'number' || typeof params.window !== 'number') {
          throw new RangeError(`cachesim: method '${methods[m].name}' reports no units and no sinks/window parameters to tell selected from forced tokens`);
        }
        return decodeLayout(step.position, P, params.sinks, params.window);
      };
      const { kind, requests } = await unitRequests(selection, heads, kvHeads, layoutOf);
      for (let g = 0; g < kvHeads; g++) {
        const seq = out[m][g];
        if (requests[g].ids.length > 0) seq.unitKind = kind;
        seq.steps.push(step.step);
        seq.positions.push(step.position);
        seq.requests.push(requests[g]);
      }
    },
  });
  return out.filter((_, m) => !allDense[m]).flat();
}

/** Records the unit sequences of every method over the chosen layers (default all), one layer read at a time. */
export async function recordUnitAccesses(reader: TraceReader, methods: Method[], opts: { layers?: number[] } = {}): Promise<AccessSequence[]> {
  const L = reader.manifest.model.layers;
  const layers = opts.layers ?? Array.from({ length: L }, (_, l) => l);
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new RangeError(`layer ${l} is out of range: the trace has ${L} (0..${L - 1})`);
  const out: AccessSequence[] = [];
  for (const layer of layers) out.push(...(await recordLayerAccesses(reader.manifest, layer, await reader.readLayer(layer), methods)));
  return out;
}

export interface CacheSimOptions {
  headDim: number;
  /** bytes per K or V element on the GPU (2 for fp16) */
  bytesPerElement?: number;
}

/**
 * Runs every policy over every recorded sequence. One row per (method, budget, policy, layer, kvHead, step):
 * unitsSelected, tokensSelected, tokensHit, hitRate (NaN when nothing was selected), bytesMoved.
 */
export function simulateCache(sequences: AccessSequence[], policies: CachePolicySpec[], opts: CacheSimOptions): aq.ColumnTable {
  const bytesPerToken = 2 * opts.headDim * (opts.bytesPerElement ?? 2);
  const rows: Record<string, number | string>[] = [];
  for (const seq of sequences) {
    for (const spec of policies) {
      const policy = makePolicy(spec, seq);
      seq.requests.forEach((req, i) => {
        const unitBytes = Array.from(req.sizes, (n) => n * bytesPerToken);
        const access = policy.access(seq.steps[i], req.ids, unitBytes);
        const tokensSelected = req.sizes.reduce((a, b) => a + b, 0);
        const tokensHit = access.hitBytes / bytesPerToken;
        rows.push({
          method: seq.method,
          budget: seq.budget,
          policy: policyLabel(spec),
          unitKind: seq.unitKind,
          layer: seq.layer,
          kvHead: seq.kvHead,
          step: seq.steps[i],
          position: seq.positions[i],
          unitsSelected: req.ids.length,
          tokensSelected,
          tokensHit,
          hitRate: tokensSelected > 0 ? tokensHit / tokensSelected : NaN,
          bytesMoved: access.bytesMoved,
        });
      });
    }
  }
  return aq.from(rows);
}

/** The values of a column in the order they first appear. */
function firstAppearance(table: aq.ColumnTable, column: string): Map<unknown, number> {
  const order = new Map<unknown, number>();
  for (const v of table.array(column) as unknown[]) if (!order.has(v)) order.set(v, order.size);
  return order;
}

/**
 * Per method, budget and policy: token-weighted hit rate over all steps and after the first (cold) step,
 * and bytes moved per decode step summed over the simulated layers and KV heads. Methods and policies keep
 * the order they were given in (the table's order), budgets ascend.
 */
export function summarizeCache(table: aq.ColumnTable): aq.ColumnTable {
  if (table.numRows() === 0) {
    throw new RangeError('cachesim: nothing was simulated: every replayed layer is below the methods\' denseLayers (dense there, no units to cache); replay later layers or add --param denseLayers=0');
  }
  const methods = firstAppearance(table, 'method');
  const policies = firstAppearance(table, 'policy');
  // arquero parses these expressions itself (they may not close over variables; escape() ones may)
  return table
    .filter('d => d.tokensSelected > 0')
    .derive({ warmSelected: 'd => d.step > 0 ? d.tokensSelected : 0', warmHit: 'd => d.step > 0 ? d.tokensHit : 0' })
    .groupby('method', 'budget', 'policy')
    .rollup({
      tokensSelected: aq.op.sum('tokensSelected'),
      tokensHit: aq.op.sum('tokensHit'),
      warmSelected: aq.op.sum('warmSelected'),
      warmHit: aq.op.sum('warmHit'),
      bytesMoved: aq.op.sum('bytesMoved'),
      steps: aq.op.distinct('step'),
    })
    .derive({
      hitRate: 'd => d.tokensHit / d.tokensSelected',
      hitRateWarm: 'd => d.warmSelected > 0 ? d.warmHit / d.warmSelected : null',
      mbPerStep: 'd => d.bytesMoved / d.steps / 1e6',
    })
    .derive({ methodRank: aq.escape((d: { method: unknown }) => methods.get(d.method)), policyRank: aq.escape((d: { policy: unknown }) => policies.get(d.policy)) })
    .orderby('methodRank', 'budget', 'policyRank')
    .select('method', 'budget', 'policy', 'hitRate', 'hitRateWarm', 'mbPerStep', 'tokensSelected', 'bytesMoved', 'steps');
}
