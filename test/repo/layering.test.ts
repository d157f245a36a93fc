/**
 * The layers of docs/DESIGN.md#layers, checked: every module in src/ imports only from its own layer or the layers
 * below it (trace < gpu < sim < model < plot < cli), and no import cycle joins any files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(__dirname, '..', '..', 'src');
const LAYERS = ['trace', 'gpu', 'sim', 'model', 'plot', 'cli'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports (static, dynamic and re-exports) of a file, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** The layer of a file under src/ (undefined for the package barrel src/index.ts and src/version.ts). */
function layerOf(file: string): string | undefined {
  const top = path.relative(SRC, file).split(path.sep)[0];
  return LAYERS.includes(top) ? top : undefined;
}

const all = files(SRC);
const graph = new Map(all.map((f) => [f, importsOf(f)]));

describe('layering', () => {
  it('finds the source files and their imports', () => {
    expect(all.length).toBeGreaterThan(100);
    expect([...graph.values()].flat().length).toBeGreaterThan(300);
  });

  it('no module imports from a layer above its own', () => {
    const violations: string[] = [];
    for (const [file, deps] of graph) {
      const from = layerOf(file);
      if (from === undefined) continue;
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to !== undefined && LAYERS.indexOf(to) > LAYERS.indexOf(from)) violations.push(`${path.relative(SRC, file)} (${from}) imports ${path.relative(SRC, dep)} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('src/gpu holds kernels only: nothing from sim, model, plot or cli', () => {
    const upward = all.filter((f) => layerOf(f) === 'gpu').flatMap((f) => graph.get(f)!.filter((d) => ['sim', 'model', 'plot', 'cli'].includes(layerOf(d) ?? '')).map((d) => `${path.relative(SRC, f)} -> ${path.relative(SRC, d)}`));
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f)).join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      // type-only imports form no runtime cycle, but a cycle of files is still a tangle: count them all
      for (const dep of graph.get(file) ?? []) if (graph.has(dep)) visit(dep, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of all) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('names every file in kebab-case', () => {
    const bad = all.map((f) => path.basename(f)).filter((name) => !/^[a-z0-9]+(-[a-z0-9]+)*\.ts$/.test(name));
    expect(bad).toEqual([]);
  });
});
