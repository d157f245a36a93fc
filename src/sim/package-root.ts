/**
 * Where the clusterkv-lab package this process runs lies, and the files it ships or depends on: in the
 * checkout, and in a project that installed the package (node_modules/clusterkv-lab, its dependencies hoisted
 * to the project's node_modules). No import.meta: tslab compiles this module to CommonJS.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const PACKAGE_NAME = 'clusterkv-lab';

/** The nearest folder at or above `from` whose package.json is clusterkv-lab's. */
export function projectRoot(from = process.cwd()): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === PACKAGE_NAME) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** The real path of the running script (node_modules/.bin/clusterkv is a link into the package), if any. */
export function runningScript(): string | undefined {
  const script = process.argv[1];
  if (!script || !existsSync(script)) return undefined;
  return realpathSync(script);
}

/**
 * The package's folder: above the running script (the CLI, bin/clusterkv.js or dist/cli/main.js, wherever
 * it is called from), else above the working directory (the checkout, tests, notebooks), else the
 * clusterkv-lab that a project in the working directory depends on.
 */
export function packageRoot(): string | undefined {
  const script = runningScript();
  const fromScript = script ? projectRoot(path.dirname(script)) : undefined;
  if (fromScript) return fromScript;
  const fromCwd = projectRoot();
  if (fromCwd) return fromCwd;
  try {
    return path.dirname(createRequire(path.join(process.cwd(), 'package.json')).resolve(`${PACKAGE_NAME}/package.json`));
  } catch {
    return undefined;
  }
}

/**
 * The folder of a dependency of the package as Node finds it: node_modules/NAME in the package's folder or
 * any folder above it (where npm hoists the dependencies of an installed package).
 */
export function dependencyDir(name: string, root = packageRoot()): string | undefined {
  if (!root) return undefined;
  for (let dir = root; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}
