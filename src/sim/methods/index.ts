/**
 * The method registry: every method's definition (one file each), and what derives from them: building a
 * Method from parameters (CLI strings already parsed to numbers, strings or booleans; defaults filled in,
 * unknown methods, unknown parameters and bad values rejected by name), the parameter names a sweep uses,
 * and the dense first layers every budgeted method shares.
 */
import { referenceOnly, UNDECLARED_ENGINE, type BatchedBudget, type EngineForm, type MethodEngine } from '../batched-selector.js';
import type { Method, ParamValue } from '../selector.js';
import { clusterkv } from './clusterkv/index.js';
import { clusterkvRefine } from './clusterkv/refine.js';
import type { MethodDefinition, ParamSpec } from './define.js';
import { resolveParams } from './define.js';
import { full, fullSelector } from './full.js';
import { h2o } from './h2o.js';
import { infinigen } from './infinigen.js';
import { infllm } from './infllm.js';
import { oracle } from './oracle.js';
import { quest } from './quest.js';
import { random } from './random.js';
import { streaming } from './streaming.js';
import { withTopP } from './top-p.js';
import { BUDGET_PARAMS } from './budget-params.js';

/** Every method, in the order tables and `--methods all` list them (wrapped methods: top-p.ts). */
export const METHODS: readonly MethodDefinition[] = [full, oracle, clusterkv, quest, infllm, streaming, h2o, random, infinigen, clusterkvRefine, withTopP(oracle), withTopP(clusterkv), withTopP(quest), withTopP(infllm), withTopP(infinigen, ['alpha', 'select'])];

/** Every registered method name, in registry order. */
export function methodNames(): string[] {
  return METHODS.map((m) => m.name);
}

export function isMethodName(name: string): boolean {
  return METHODS.some((m) => m.name === name);
}

/** The definition of a method; an unknown name is an error that lists the known ones. */
export function methodDefinition(name: string): MethodDefinition {
  const found = METHODS.find((m) => m.name === name);
  if (!found) throw new RangeError(`unknown method '${name}': expected one of ${methodNames().join(', ')} (or all)`);
  return found;
}

/** Expands 'all' and checks every name. */
export function resolveMethodNames(names: string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (name === 'all') out.push(...methodNames());
    else out.push(methodDefinition(name).name);
  }
  return [...new Set(out)];
}

/** The names of the parameters a method takes. */
export function methodParamNames(name: string): string[] {
  return Object.keys(methodDefinition(name).params);
}

/** Whether a method uses a token budget (all but full). */
export function methodTakesBudget(name: string): boolean {
  return methodDefinition(name).budgeted;
}

/** A parameter's declaration (default, meaning, accepted values). */
export function methodParam(name: string, param: string): ParamSpec<ParamValue> | undefined {
  return methodDefinition(name).params[param];
}

/**
 * A configured Method. Layers below `denseLayers` (a parameter of every budgeted method, budget-params.ts)
 * attend densely whatever the method, so an equal-budget comparison compares the same layers.
 */
export function createMethod(name: string, params: Readonly<Record<string, ParamValue | undefined>> = {}): Method {
  return methodFromDefinition(methodDefinition(name), params);
}

/**
 * A configured Method from any definition, registered or not (a method of your own: defineMethod in
 * define.ts). Layers below `denseLayers` (a parameter of every budgeted method, budget-params.ts) attend
 * densely whatever the method, so an equal-budget comparison compares the same layers.
 */
export function methodFromDefinition(definition: MethodDefinition, params: Readonly<Record<string, ParamValue | undefined>> = {}): Method {
  const p = resolveParams(definition, params) as Readonly<Record<string, ParamValue>>;
  const budget = definition.budgeted ? (p.budget as number) : Infinity;
  const denseLayers = definition.budgeted ? (p.denseLayers as number) : 0;
  return {
    name: definition.name,
    params: { ...p },
    budget,
    budgetMode: definition.budgeted ? (p.budgetMode as Method['budgetMode']) : 'selected',
    forLayer: (info) => (info.layer < denseLayers ? fullSelector(info) : definition.selector(info, p)),
    engine: methodEngine(definition, p),
  };
}

/** How the decode engine runs a definition: its declared engine form, or reference only when it declares none. */
export function declaredEngine(definition: MethodDefinition): EngineForm<Readonly<Record<string, ParamValue>>> {
  return (definition.engine as EngineForm<Readonly<Record<string, ParamValue>>> | undefined) ?? UNDECLARED_ENGINE;
}

/** The engine form of a configured method: its definition's, with the parameters bound. */
function methodEngine(definition: MethodDefinition, p: Readonly<Record<string, ParamValue>>): MethodEngine {
  const form = declaredEngine(definition);
  if (form.kind !== 'batched') return form;
  if (!definition.budgeted) throw new RangeError(`method '${definition.name}': a batched engine form needs a budgeted method`);
  const unless = form.referenceOnlyWhen;
  if (unless?.applies(p)) return referenceOnly(`with ${unless.params}: ${unless.reason}`);
  const shared: BatchedBudget = { budget: p.budget as number, budgetMode: p.budgetMode as BatchedBudget['budgetMode'], sinks: p.sinks as number, window: p.window as number, denseLayers: p.denseLayers as number };
  return { kind: 'batched', budget: shared, forLayer: (layer) => form.create(layer, p), bytes: (shape) => form.bytes(shape, p), promptQueries: form.promptQueries ?? false };
}

export { BUDGET_PARAMS } from './budget-params.js';
export { referenceOnly, type BatchedLayer, type BatchedPlan, type BatchedSelector, type EngineForm, type MethodEngine } from '../batched-selector.js';

/** Layers kept dense by every budgeted method unless told otherwise (the default of denseLayers). */
export const DEFAULT_DENSE_LAYERS: number = BUDGET_PARAMS.denseLayers.default!;
export { defineMethod, intParam, ratioParam, positiveRatioParam, positiveParam, choiceParam, flagParam, type MethodDefinition, type ParamSpec, type ParamsOf } from './define.js';
export { planStep, withForced, type ForcedSetParams, type StepPlan } from './baseline.js';
export { withTopP, topPCounts, TOP_P_PARAMS, TOP_P_SUFFIX, type TopPParams } from './top-p.js';
