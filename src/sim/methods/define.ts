/**
 * How a method is declared, once (kvpress-style): a name, one line of meaning, its parameters (each with a
 * default, one line of meaning and its own check), checks across parameters, the LayerSelector it makes and
 * how the decode engine runs it.
 * The registry (index.ts), the parameter names a sweep uses, the rejection of unknown keys, the dense first
 * layers and `clusterkv methods` all derive from these definitions.
 */
import type { EngineForm } from '../batched-selector.js';
import type { LayerInfo, LayerSelector, ParamValue } from '../selector.js';

/** One parameter: its default (absent: the caller must give it), meaning, and check. */
export interface ParamSpec<T extends ParamValue> {
  /** absent for a required parameter (the budget) */
  readonly default?: T;
  /** one line: what the parameter means */
  readonly doc: string;
  /** what values it takes, for messages and `clusterkv methods` ('integer >= 1', 'centroid | bound') */
  readonly accepts: string;
  /** whether `value` is acceptable */
  readonly valid: (value: unknown) => value is T;
}

export type ParamSpecs = Readonly<Record<string, ParamSpec<ParamValue>>>;

/** The resolved parameters of a spec set, each with its own type. */
export type ParamsOf<S extends ParamSpecs> = { readonly [K in keyof S]: S[K] extends ParamSpec<infer T> ? T : never };

export interface MethodDefinition<S extends ParamSpecs = ParamSpecs> {
  readonly name: string;
  /** one line: what the method keeps */
  readonly summary: string;
  /** whether it works under a token budget (every method but full) */
  readonly budgeted: boolean;
  readonly params: S;
  /** checks across parameters, after each parameter's own check; throw RangeError naming them */
  validate?(p: ParamsOf<S>): void;
  /** the selector of one layer (sparse layers only: the registry makes dense first layers itself) */
  selector(info: LayerInfo, p: ParamsOf<S>): LayerSelector;
  /**
   * how the WebGPU decode engine runs it (src/sim/batched-selector.ts): its dense attention, the method's
   * batched form (budgeted methods), or the reference path only with the reason; absent: reference only
   */
  readonly engine?: EngineForm<ParamsOf<S>>;
}

/** Identity with inference: `defineMethod({...})` keeps each parameter's type for the selector. */
export function defineMethod<S extends ParamSpecs>(definition: MethodDefinition<S>): MethodDefinition<S> {
  return definition;
}

function spec<T extends ParamValue>(defaultValue: T | undefined, doc: string, accepts: string, valid: (v: unknown) => v is T): ParamSpec<T> {
  return defaultValue === undefined ? { doc, accepts, valid } : { default: defaultValue, doc, accepts, valid };
}

/** An integer >= min (default undefined: required). */
export function intParam(defaultValue: number | undefined, min: number, doc: string): ParamSpec<number> {
  return spec(defaultValue, doc, `integer >= ${min}`, (v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min);
}

/** A number in [0, 1]. */
export function ratioParam(defaultValue: number, doc: string): ParamSpec<number> {
  return spec(defaultValue, doc, 'number in [0, 1]', (v): v is number => typeof v === 'number' && v >= 0 && v <= 1);
}

/** A number in (0, 1]: a share that cannot be none. */
export function positiveRatioParam(defaultValue: number, doc: string): ParamSpec<number> {
  return spec(defaultValue, doc, 'number in (0, 1]', (v): v is number => typeof v === 'number' && v > 0 && v <= 1);
}

/** A number > 0. */
export function positiveParam(defaultValue: number, doc: string): ParamSpec<number> {
  return spec(defaultValue, doc, 'number > 0', (v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
}

/** One of a few names. */
export function choiceParam<T extends string>(defaultValue: T, choices: readonly T[], doc: string): ParamSpec<T> {
  return spec(defaultValue, doc, choices.join(' | '), (v): v is T => typeof v === 'string' && (choices as readonly string[]).includes(v));
}

export function flagParam(defaultValue: boolean, doc: string): ParamSpec<boolean> {
  return spec(defaultValue, doc, 'true | false', (v): v is boolean => typeof v === 'boolean');
}

/**
 * Defaults filled in, unknown keys and bad values rejected with a message naming the method, the parameter,
 * what it takes and what was given.
 */
export function resolveParams<S extends ParamSpecs>(definition: MethodDefinition<S>, given: Readonly<Record<string, ParamValue | undefined>>): ParamsOf<S> {
  const { name, params } = definition;
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(params, key)) {
      const takes = Object.keys(params);
      throw new RangeError(`method '${name}' has no parameter '${key}' (${takes.length ? `it takes ${takes.join(', ')}` : 'it takes none'})`);
    }
  }
  const out: Record<string, ParamValue> = {};
  for (const [key, p] of Object.entries(params)) {
    const value = given[key] ?? p.default;
    if (value === undefined) {
      throw new RangeError(key === 'budget' ? `method '${name}' needs a token budget: give --budget B (or budget=B)` : `method '${name}' needs parameter '${key}' (${p.accepts})`);
    }
    if (!p.valid(value)) throw new RangeError(`${name}: parameter '${key}' must be ${withArticle(p.accepts)}, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  const resolved = out as ParamsOf<S>;
  definition.validate?.(resolved);
  return resolved;
}

function withArticle(accepts: string): string {
  if (accepts.includes('|')) return `one of ${accepts}`;
  return /^[aeiou]/i.test(accepts) ? `an ${accepts}` : `a ${accepts}`;
}
