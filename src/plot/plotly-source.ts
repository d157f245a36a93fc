/**
 * plotly.js (the minified bundle of plotly.js-dist-min) as text, for inlining into self-contained HTML.
 * Found by walking up from the working directory to a node_modules that holds it (no import.meta or
 * require.resolve: this module runs under tsx as ESM and under tslab as CommonJS); CLUSTERKV_PLOTLY_JS overrides.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PlotError } from './errors.js';

const BUNDLE = path.join('node_modules', 'plotly.js-dist-min', 'plotly.min.js');
let cached: { file: string; text: string } | undefined;

export function plotlyBundlePath(from = process.cwd()): string {
  const override = process.env.CLUSTERKV_PLOTLY_JS;
  if (override) {
    if (!existsSync(override)) throw new PlotError(`CLUSTERKV_PLOTLY_JS points to ${override}, which does not exist`);
    return override;
  }
  let dir = path.resolve(from);
  for (;;) {
    const file = path.join(dir, BUNDLE);
    if (existsSync(file)) return file;
    const up = path.dirname(dir);
    if (up === dir) throw new PlotError(`plotly.js not found: no ${BUNDLE} in ${from} or above (run npm ci, or set CLUSTERKV_PLOTLY_JS)`);
    dir = up;
  }
}

/** The bundle's text (read once per process). */
export function plotlyScript(): string {
  const file = plotlyBundlePath();
  if (!cached || cached.file !== file) cached = { file, text: readFileSync(file, 'utf8') };
  return cached.text;
}
