/**
 * Option definitions shared by the commands, each written once: `--backend` (every command that runs tfjs).
 * program.ts checks the backend a command is given before it runs (an unknown name fails naming the flag or
 * the environment variable it came from).
 */
import { Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../gpu/backend.js';

/**
 * `--backend <name>`: the tfjs backend. Default: env CLUSTERKV_BACKEND, else the first that loads
 * (useBackend); a command that runs on one backend only (e2e) passes it as `only`, which becomes the default.
 */
export function backendOption(only?: BackendName): Option {
  const what = `tfjs backend: ${BACKEND_NAMES.join(', ')}`;
  if (only === undefined) return new Option('--backend <name>', `${what} (default: env CLUSTERKV_BACKEND, else first that loads)`);
  return new Option('--backend <name>', `${what}; this command runs on ${only} only`).default(only);
}
