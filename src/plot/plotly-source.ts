/**
 * plotly.js (the minified bundle of plotly.js-dist-min) as text, for HTML pages: the dependency of the
 * package this process runs (package-root.ts: found from the running script, so that `clusterkv plot` also
 * works from another folder and from an installed package), else of a project above the working directory.
 * CLUSTERKV_PLOTLY_JS overrides.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dependencyDir, packageRoot } from '../sim/package-root.js';
import { PlotError } from './errors.js';

const PACKAGE = 'plotly.js-dist-min';
const BUNDLE = 'plotly.min.js';
let cached: { file: string; text: string } | undefined;

export function plotlyBundlePath(from = process.cwd()): string {
  const override = process.env.CLUSTERKV_PLOTLY_JS;
  if (override) {
    if (!existsSync(override)) throw new PlotError(`CLUSTERKV_PLOTLY_JS points to ${override}, which does not exist`);
    return override;
  }
  const starts = [packageRoot(), path.resolve(from)].filter((s): s is string => s !== undefined);
  for (const start of starts) {
    const dir = dependencyDir(PACKAGE, start);
    if (dir && existsSync(path.join(dir, BUNDLE))) return path.join(dir, BUNDLE);
  }
  throw new PlotError(`plotly.js not found: no node_modules/${PACKAGE}/${BUNDLE} in ${starts.join(' or ')} or above (run npm ci, or set CLUSTERKV_PLOTLY_JS)`);
}

/** The bundle's text (read once per process). */
export function plotlyScript(): string {
  const file = plotlyBundlePath();
  if (!cached || cached.file !== file) cached = { file, text: readFileSync(file, 'utf8') };
  return cached.text;
}
