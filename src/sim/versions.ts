/** Versions recorded in run manifests: node, tfjs and the packages a result depends on. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { dependencyDir, packageRoot } from './package-root.js';

const RECORDED = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu', 'arquero', 'ml-kmeans', 'webgpu'];

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version, 'tfjs-core (loaded)': tf.version_core };
  const root = packageRoot();
  if (root) {
    out['clusterkv-lab'] = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
    for (const name of RECORDED) {
      const dir = dependencyDir(name, root);
      if (dir) out[name] = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
    }
  }
  return out;
}
