/** Versions recorded in run manifests: node, tfjs and the packages a result depends on. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const RECORDED = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu', 'arquero', 'ml-kmeans', 'webgpu'];

/** The project root: the nearest folder above cwd whose package.json is clusterkv-lab's (no import.meta: tslab compiles to CommonJS). */
export function projectRoot(from = process.cwd()): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'clusterkv-lab') return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version, 'tfjs-core (loaded)': tf.version_core };
  const root = projectRoot();
  if (root) {
    out['clusterkv-lab'] = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
    for (const name of RECORDED) {
      const file = path.join(root, 'node_modules', name, 'package.json');
      if (existsSync(file)) out[name] = JSON.parse(readFileSync(file, 'utf8')).version;
    }
  }
  return out;
}
