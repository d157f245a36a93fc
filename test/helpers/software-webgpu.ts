/**
 * The software WebGPU adapter for tests (Dawn's OpenGL ES backend on Mesa llvmpipe; src/gpu/backend.ts).
 * `softwareWebgpu()` makes webgpu the active backend on it and returns undefined, or returns the one-line
 * reason it could not (tests then skip, printing that line once).
 */
import { SOFTWARE_ADAPTER_PACKAGES, useBackend } from '../../src/gpu/backend.js';
import { recordSkip } from './requirements.js';

let outcome: Promise<string | undefined> | undefined;

export async function softwareWebgpu(): Promise<string | undefined> {
  outcome ??= (async () => {
    process.env.CLUSTERKV_WEBGPU_ADAPTER = 'software';
    try {
      await useBackend('webgpu');
      return undefined;
    } catch (err) {
      const why = `WGSL kernel tests skipped: no software WebGPU adapter (apt-get install ${SOFTWARE_ADAPTER_PACKAGES}): ${(err as Error).message}`;
      console.warn(why);
      return why;
    }
  })();
  const why = await outcome;
  // each file that asks records its skip (npm test's closing lines count them)
  if (why !== undefined) recordSkip('the software WebGPU adapter', `apt-get install -y --no-install-recommends ${SOFTWARE_ADAPTER_PACKAGES}`);
  return why;
}
