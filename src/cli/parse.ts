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

/** `--param name=v1,v2` (repeatable) -> grid entries. */
export function parseGridFlags(values: string[]): Record<string, ParamValue[]> {
  const grid: Record<string, ParamValue[]> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new UserError(`--param takes name=value[,value...], got '${item}'`);
    grid[item.slice(0, eq)] = item.slice(eq + 1).split(',').map(parseParamValue);
  }
  return grid;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
