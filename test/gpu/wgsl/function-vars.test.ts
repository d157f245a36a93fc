// Every WGSL function-scope `var` has an initializer. WGSL zero-initialises `var x: T;` each time its declaration
// runs, but on the H100 (Dawn's Vulkan backend, driver 580.159) a loop-local one kept its value from the previous
// iteration: the prefill attention's per-tile scores (`var s0: array<vec4<f32>, 4>;`) summed every key tile, so
// every prompt row past the first 32 keys was wrong, while the software adapter (Dawn's GLSL backend) was right.
// `var x = T();` is the same zero in WGSL and is re-stored at every declaration on both backends.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { featuresTurnedOff } from '../../../src/gpu/wgsl/runtime/capabilities.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** `var name: type;` (no initializer; `var<workgroup>` and `var<storage>` are module scope and excluded). */
const UNINITIALISED = /\bvar ([A-Za-z_]\w*)\s*:\s*[^=;`]+;/g;

describe('WGSL function variables', () => {
  it('all carry an initializer', () => {
    const files = sources(path.resolve('src'));
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(UNINITIALISED)].map((m) => `${path.relative('.', f)}: ${m[0]}`));
    expect(found).toEqual([]);
  });

  it('the pattern finds the declaration the H100 mis-ran', () => {
    expect('    var s0: array<vec4<f32>, 4>;\n'.match(UNINITIALISED)).not.toBeNull();
    expect('    var s0 = array<vec4<f32>, 4>();\n'.match(UNINITIALISED)).toBeNull();
    expect('var<workgroup> qs: array<vec4<f32>, 64>;\n'.match(UNINITIALISED)).toBeNull();
  });
});

describe('CLUSTERKV_FEATURES_OFF', () => {
  it('names features of the kernel list, and refuses others by name', () => {
    expect(featuresTurnedOff(undefined)).toEqual([]);
    expect(featuresTurnedOff(' shader-f16, subgroups ')).toEqual(['shader-f16', 'subgroups']);
    expect(() => featuresTurnedOff('shader-f16,f64')).toThrow(/unknown feature 'f64' \(known: shader-f16, subgroups/);
  });
});
