/**
 * The WebGPU engine's storage options, one definition for the commands that run models (generate, capture,
 * eval passkey, doctor, e2e): --weights-dtype and --kv-dtype, each auto (the checkpoint's precision: f32 for
 * F32 checkpoints, f16 for F16/BF16 ones), f32 or f16.
 */
import type { Command } from 'commander';
import { DTYPE_CHOICES, type DTypeChoice } from '../model/engine/engine-model.js';
import { UserError } from './errors.js';

export interface EngineDTypeFlags {
  weightsDtype: string;
  kvDtype: string;
}

export function parseDTypeFlag(flag: string, value: string): DTypeChoice {
  const v = value.toLowerCase();
  if (!(DTYPE_CHOICES as readonly string[]).includes(v)) throw new UserError(`${flag} must be one of ${DTYPE_CHOICES.join(', ')}, got '${value}'`);
  return v as DTypeChoice;
}

/** The parsed dtypes of the flags. */
export function engineDTypes(flags: EngineDTypeFlags): { weights: DTypeChoice; kv: DTypeChoice } {
  return { weights: parseDTypeFlag('--weights-dtype', flags.weightsDtype), kv: parseDTypeFlag('--kv-dtype', flags.kvDtype) };
}

/** Adds --weights-dtype and (unless kv is false: a command whose cache must stay f32) --kv-dtype to a command. */
export function engineDTypeOptions(command: Command, { kv = true }: { kv?: boolean } = {}): Command {
  command.option('--weights-dtype <auto|f32|f16>', "WebGPU engine: the weights' storage (auto: the checkpoint's, f32 for F32 files, f16 for F16/BF16)", 'auto');
  return kv ? command.option('--kv-dtype <auto|f32|f16>', "WebGPU engine: the KV cache's storage (auto: as the weights' rule)", 'auto') : command;
}
