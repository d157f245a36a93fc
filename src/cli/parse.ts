/** Flag parsing shared by the commands: lists and numbers, with errors that name the flag. */
import { UserError } from './errors.js';
import type { ParamValue } from '../sim/selector.js';

export function parseIntFlag(flag: string, value: string, min = Number.NEGATIVE_INFINITY): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new UserError(`${flag} must be an integer, got '${value}'`);
  if (n < min) throw new UserError(`${flag} must be >= ${min}, got ${n}`);
  return n;
}

export function parseIntList(flag: string, value: string, min = Number.NEGATIVE_INFINITY): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UserError(`${flag} needs at least one value`);
  return parts.map((p) => parseIntFlag(flag, p, min));
}

export function parseNameList(flag: string, value: string): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UserError(`${flag} needs at least one name`);
  return parts;
}

/** A parameter value from the command line: number, boolean or string. */
export function parseParamValue(text: string): ParamValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/**
 * The one parser of `--param` (repeatable): `name=v1[,v2...]` -> values per parameter name, each value a
 * number, boolean or string (parseParamValue); a later --param of a name replaces an earlier one.
 */
export function parseGridFlags(values: readonly string[]): Record<string, ParamValue[]> {
  const grid: Record<string, ParamValue[]> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new UserError(`--param takes name=value[,value...], got '${item}'`);
    grid[item.slice(0, eq)] = item.slice(eq + 1).split(',').map(parseParamValue);
  }
  return grid;
}

/** `--param name=value` for a command that takes one value per parameter (`command` names it in the error). */
export function parseParamFlags(values: readonly string[], command: string): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = {};
  for (const [name, list] of Object.entries(parseGridFlags(values))) {
    if (list.length !== 1) throw new UserError(`--param ${name}: ${command} takes one value per parameter, got ${list.length}`);
    params[name] = list[0];
  }
  return params;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
