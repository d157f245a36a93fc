/**
 * The package as another project sees it: `exports`, `types` and `bin` point at the build in dist/ (JavaScript
 * with type declarations, built by `npm run build`, which `prepare` runs on npm ci), and the README's library
 * example runs in plain Node (no tsx) from a project that depends on clusterkv-lab.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { readmeExample, readmeInstall } from '../../scripts/consumer-test.mjs';
import { ensureBuilt } from '../helpers/build.js';
import { tempDir } from '../helpers/traces.js';

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('the package', () => {
  beforeAll(ensureBuilt, 300_000);

  it('exports, types and bin name built JavaScript with declarations, built by prepare', () => {
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js', default: './dist/index.js' });
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(pkg.bin.clusterkv).toBe('dist/cli/main.js');
    expect(pkg.scripts.prepare).toBe('npm run build');
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/trace/reader.js', 'dist/trace/reader.d.ts', pkg.bin.clusterkv]) {
      expect(existsSync(path.join(root, file)), file).toBe(true);
    }
    const load = spawnSync(process.execPath, ['--input-type=module', '-e', `import('${path.join(root, 'dist', 'index.js')}').then((m) => console.log(JSON.stringify(Object.keys(m))))`], { encoding: 'utf8' });
    const names = JSON.parse(load.stdout);
    for (const name of ['TraceReader', 'writeSyntheticTrace', 'exportTrace', 'createMethod', 'runSweep', 'replayTrace', 'simulateCache', 'loadModel', 'generate', 'recallVsBudgetFigure', 'writeReport', 'useBackend']) {
      expect(names, name).toContain(name);
    }
    const bin = path.join(root, pkg.bin.clusterkv);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toBe(`clusterkv-lab ${VERSION}`);
  });

  it('pins for a consumer what it pins for itself: no overrides (they do not reach a project that installs the package)', () => {
    // arquero asks for @uwdata/flechette ^2; 2.7 needs a package that is not on the registry, so the package
    // depends on 2.6.0 itself, which npm dedupes arquero's range to
    expect(pkg.overrides).toBeUndefined();
    expect(pkg.dependencies['@uwdata/flechette']).toBe('2.6.0');
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
    const flechettes = Object.entries(lock.packages as Record<string, { version: string }>).filter(([p]) => p.endsWith('node_modules/@uwdata/flechette'));
    expect(flechettes).toEqual([['node_modules/@uwdata/flechette', expect.objectContaining({ version: '2.6.0' })]]);
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('the packed tarball holds what an installed package runs: the build, the worker entry, the texts', () => {
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const files = new Set((JSON.parse(pack.stdout)[0].files as { path: string }[]).map((f) => f.path));
    for (const f of ['dist/cli/main.js', 'dist/index.js', 'dist/sim/sweep-pool-child.js', 'texts/moby-dick.txt', 'texts/README.md', 'README.md', 'package.json']) expect(files.has(f), f).toBe(true);
  }, 120_000);

  it("the README's install block packs this version and runs every command the consumer test checks", () => {
    const lines = readmeInstall(readFileSync(path.join(root, 'README.md'), 'utf8'));
    expect(lines[0]).toBe('npm pack --pack-destination ..');
    expect(lines).toContain(`npm install --no-audit --no-fund ../${pkg.name}-${pkg.version}.tgz`);
    for (const start of ['mkdir -p ../my-project && cd ../my-project && npm init -y', 'npx clusterkv --version', 'npx clusterkv quickstart', 'npx clusterkv sweep ', 'npx clusterkv eval passkey ', 'node example.mjs']) {
      expect(lines.some((l) => l.startsWith(start)), start).toBe(true);
    }
    expect(lines.find((l) => l.startsWith('npx clusterkv sweep'))).not.toContain('--jobs');
    expect(lines.find((l) => l.startsWith('npx clusterkv eval passkey'))).not.toContain('--filler');
    expect(readFileSync(path.join(root, '.ci', 'run'), 'utf8')).toMatch(/^node scripts\/consumer-test\.mjs$/m);
  });

  it("runs the README's library example in plain Node from a project that depends on it", () => {
    const project = tempDir('ckv-consumer-');
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(root, path.join(project, 'node_modules', 'clusterkv-lab'), 'dir');
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    const example = readmeExample(readFileSync(path.join(root, 'README.md'), 'utf8'));
    expect(example.trim().split('\n').length).toBeLessThanOrEqual(12);
    writeFileSync(path.join(project, 'example.js'), example);
    const run = spawnSync(process.execPath, ['example.js'], { cwd: project, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['clusterkv', 'quest', 'oracle']);
    for (const line of lines) {
      const recall = Number(/mean mass recall ([\d.]+)/.exec(line)![1]);
      expect(recall).toBeGreaterThan(0);
      expect(recall).toBeLessThanOrEqual(1);
    }
    expect(existsSync(path.join(project, 'example.safetensors'))).toBe(true);
    // the declarations type-check a TypeScript consumer
    writeFileSync(path.join(project, 'typed.ts'), [
      "import { TraceReader, createMethod, type TraceManifest, type Method } from 'clusterkv-lab';",
      'export async function layers(file: string): Promise<number> {',
      '  const reader = await TraceReader.open(file);',
      '  const m: TraceManifest = reader.manifest;',
      "  const method: Method = createMethod('quest', { budget: 64 });",
      '  await reader.close();',
      '  return m.model.layers + method.name.length;',
      '}',
      "// @ts-expect-error: a wrong argument type is caught",
      'TraceReader.open(42);',
    ].join('\n'));
    const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'typed.ts'], { cwd: project, encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  }, 180_000);
});
