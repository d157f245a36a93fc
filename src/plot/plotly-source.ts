/**
 * plotly.js (the minified bundle of plotly.js-dist-min) as text, for HTML pages.
 * Found by walking up to a node_modules that holds it, from the working directory and then from the running
 * script (bin/clusterkv.js, dist/cli/main.js or the notebook kernel's tslab, all inside the project), so that
 * `clusterkv plot` also works from another folder; no import.meta or require.resolve: this module runs under
 * tsx as ESM and under tslab as CommonJS. CLUSTERKV_PLOTLY_JS overrides.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
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
  const starts = [path.resolve(from)];
  const script = process.argv[1];
  if (script && existsSync(script)) starts.push(path.dirname(realpathSync(script)));
  for (const start of starts) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const file = path.join(dir, BUNDLE);
      if (existsSync(file)) return file;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new PlotError(`plotly.js not found: no ${BUNDLE} in ${starts.join(' or ')} or above (run npm ci, or set CLUSTERKV_PLOTLY_JS)`);
}

/** The bundle's text (read once per process). */
export function plotlyScript(): string {
  const file = plotlyBundlePath();
  if (!cached || cached.file !== file) cached = { file, text: readFileSync(file, 'utf8') };
  return cached.text;
}
