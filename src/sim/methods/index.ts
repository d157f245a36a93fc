/**
 * The method registry: every method by name, built from parameters (CLI strings already parsed to numbers,
 * strings or booleans). Unknown methods and unknown parameters are rejected by name.
 */
import type { Method, ParamValue } from '../selector.js';
import { fullMethod, fullSelector } from './full.js';
import { requireInt } from './params.js';
import { oracleMethod } from './oracle.js';
import { clusterkvMethod } from './clusterkv.js';
import { questMethod } from './quest.js';
import { infllmMethod } from './infllm.js';
import { streamingMethod } from './streaming.js';
import { h2oMethod } from './h2o.js';
import { randomMethod } from './random.js';

type Factory = (params: Record<string, ParamValue>) => Method;

/** Layers kept dense by every budgeted method unless told otherwise (the paper keeps its first 2 layers dense, for all methods). */
export const DEFAULT_DENSE_LAYERS = 2;

/**
 * Budgeted methods share the `denseLayers` accounting: layers below it attend everything, whatever the
 * method, so an equal-budget comparison compares the same layers.
 */
const withBudget = (make: (p: Record<string, ParamValue> & { budget: number }) => Method): Factory => (params) => {
  const { denseLayers = DEFAULT_DENSE_LAYERS, ...rest } = params;
  const method = make(rest as Record<string, ParamValue> & { budget: number });
  requireInt(method.name, 'denseLayers', denseLayers, 0);
  return {
    ...method,
    params: { ...method.params, denseLayers },
    forLayer: (info) => (info.layer < (denseLayers as number) ? fullSelector(info) : method.forLayer(info)),
  };
};

const REGISTRY: Record<string, Factory> = {
  full: () => fullMethod(),
  oracle: withBudget((p) => oracleMethod(p as never)),
  clusterkv: withBudget((p) => clusterkvMethod(p as never)),
  quest: withBudget((p) => questMethod(p as never)),
  infllm: withBudget((p) => infllmMethod(p as never)),
  streaming: withBudget((p) => streamingMethod(p as never)),
  h2o: withBudget((p) => h2oMethod(p as never)),
  random: withBudget((p) => randomMethod(p as never)),
};

/** Every registered method name, in registry order. */
export function methodNames(): string[] {
  return Object.keys(REGISTRY);
}

export function isMethodName(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(REGISTRY, name);
}

/** Expands 'all' and checks every name. */
export function resolveMethodNames(names: string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (name === 'all') out.push(...methodNames());
    else if (isMethodName(name)) out.push(name);
    else throw new RangeError(`unknown method '${name}': expected one of ${methodNames().join(', ')} (or all)`);
  }
  return [...new Set(out)];
}

/** The names of the parameters a method takes (from an instance with a nominal budget). */
export function methodParamNames(name: string): string[] {
  if (!isMethodName(name)) resolveMethodNames([name]);
  return Object.keys(REGISTRY[name]({ budget: 1024 }).params);
}

/** Whether a method uses a token budget (all but full). */
export function methodTakesBudget(name: string): boolean {
  return Number.isFinite(REGISTRY[name]({ budget: 1024 }).budget);
}

export function createMethod(name: string, params: Record<string, ParamValue> = {}): Method {
  if (!isMethodName(name)) resolveMethodNames([name]);
  const method = REGISTRY[name](params);
  const known = new Set([...Object.keys(method.params), 'budget']);
  for (const key of Object.keys(params)) {
    if (!known.has(key)) throw new RangeError(`method '${name}' has no parameter '${key}' (it takes ${[...known].join(', ')})`);
  }
  return method;
}
