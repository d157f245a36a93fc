/**
 * PNG files of figures through headless Chromium (playwright-core drives the system's Chromium; no browser
 * download). Plotly renders the figure in a blank page and Plotly.toImage returns the PNG at 2x scale.
 * Chromium: env CLUSTERKV_CHROMIUM, else the first of the usual system paths that exists.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { PlotError } from './errors.js';
import type { Figure } from './figure.js';
import { plotlyScript } from './plotly-source.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function chromiumPath(): string {
  const override = process.env.CLUSTERKV_CHROMIUM;
  if (override) {
    if (!existsSync(override)) throw new PlotError(`CLUSTERKV_CHROMIUM points to ${override}, which does not exist`);
    return override;
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    throw new PlotError(`PNG output needs Chromium, and none was found (looked for ${CANDIDATES.join(', ')}): install it (Debian: apt-get install chromium) or set CLUSTERKV_CHROMIUM to its path; the HTML figures do not need it`);
  }
  return found;
}

/** Renders figures to PNG bytes with one browser; scale 2 makes text crisp. */
export async function renderPngs(figs: Figure[], scale = 2): Promise<Uint8Array[]> {
  // loaded on first use: commands that only may draw PNGs (plot, eval) run where playwright-core is absent
  const { chromium } = await import('playwright-core');
  const browser: Browser = await chromium.launch({ executablePath: chromiumPath(), args: ARGS });
  try {
    const page = await browser.newPage();
    await page.setContent('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="plot"></div></body></html>');
    await page.addScriptTag({ content: plotlyScript() });
    const out: Uint8Array[] = [];
    for (const fig of figs) {
      const dataUrl = await page.evaluate(async ({ data, layout, width, height, s }) => {
        // Runs in the page. No DOM lib types here: tslab type-checks src/ without the 'dom' lib.
        const page = globalThis as unknown as {
          Plotly: { newPlot: Function; toImage: Function; purge: Function };
          document: { getElementById(id: string): unknown };
        };
        const P = page.Plotly;
        const el = page.document.getElementById('plot');
        await P.newPlot(el, data, { ...layout, width, height }, { staticPlot: true });
        const url: string = await P.toImage(el, { format: 'png', width, height, scale: s });
        P.purge(el);
        return url;
      }, { data: fig.data, layout: fig.layout, width: fig.width, height: fig.height, s: scale });
      out.push(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
    }
    return out;
  } finally {
    await browser.close();
  }
}

/** Writes DIR/<id>.png per figure; returns the paths. */
export async function writeFigurePngs(figs: Figure[], dir: string, scale = 2): Promise<string[]> {
  const images = await renderPngs(figs, scale);
  mkdirSync(dir, { recursive: true });
  return figs.map((fig, i) => {
    const file = path.join(dir, `${fig.id}.png`);
    writeFileSync(file, images[i]);
    return file;
  });
}
