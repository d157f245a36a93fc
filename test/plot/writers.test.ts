// HTML and PNG writers: offline pages (plotly.js inlined, or once per folder), figure data embedded, and real PNGs from Chromium.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { figureHtml, notebookHtml, renderPngs, writeReport, type Figure } from '../../src/plot/index.js';
import { itNeeds } from '../helpers/requirements.js';

const dir = mkdtempSync(path.join(tmpdir(), 'plot-writers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function figure(id: string, title: string): Figure {
  return {
    id, title, width: 400, height: 300,
    data: [{ type: 'scatter', mode: 'lines', name: 'series </script><b>', x: [1, 2, 3], y: [0.5, 0.25, 0.125] }],
    layout: { title: { text: title }, xaxis: { title: { text: 'x (tokens)' } }, yaxis: { title: { text: 'y' } } },
  };
}

/** The JSON literal assigned to `name` in a figure's drawing script. */
function embedded(html: string, name: string): unknown {
  const m = html.match(new RegExp(`var ${name}=(.*?),layout=`)) ?? html.match(new RegExp(`${name}=(\\{.*?\\}),config=`));
  return JSON.parse(m![1]);
}

describe('HTML writers', () => {
  it('inline plotly.js, need no network and keep script-breaking text inside the data', () => {
    const html = figureHtml(figure('one', 'A & B <test>'));
    // boolean checks: a failing toContain on a 3.5 MB page would print all of it
    expect(html.includes('plotly.js v4')).toBe(true);
    expect(/<script[^>]+src=|<link[^>]+href=/.test(html)).toBe(false);
    expect(html.includes('<title>A &amp; B &lt;test&gt;</title>')).toBe(true);
    // the only '</script>' occurrences are the real closing tags: one for plotly.js, one for the figure
    expect(html.match(/<\/script>/g)!.length).toBe(2);
    const data = embedded(html, 'data') as { name: string; y: number[] }[];
    expect(data[0].name).toBe('series </script><b>');
    expect(data[0].y).toEqual([0.5, 0.25, 0.125]);
    expect(html.includes('data-clusterkv-figure="one"')).toBe(true);
  });

  it('write one file per figure and an index embedding all, plotly.js once per folder', () => {
    const files = writeReport([figure('first', 'First'), figure('second', 'Second')], path.join(dir, 'report'), { title: 'Report', notes: ['trace t.safetensors'] });
    expect(files.map((f) => path.basename(f))).toEqual(['plotly.min.js', 'first.html', 'second.html', 'index.html']);
    expect(readFileSync(files[0], 'utf8').includes('plotly.js v4')).toBe(true);
    const index = readFileSync(files[3], 'utf8');
    for (const file of files.slice(1)) {
      const html = readFileSync(file, 'utf8');
      // each page loads the one bundle next to it (offline: a relative path, no CDN) and carries no copy
      expect(html.match(/<script[^>]+src="([^"]+)"/g), file).toEqual(['<script type="text/javascript" src="plotly.min.js"']);
      expect(html.includes('plotly.js v4'), file).toBe(false);
      expect(html.length).toBeLessThan(20_000);
    }
    for (const part of ['data-clusterkv-figure="first"', 'data-clusterkv-figure="second"', 'href="second.html"', 'trace t.safetensors']) {
      expect(index.includes(part), part).toBe(true);
    }
    // --inline-plotly: every page stands alone
    const inline = writeReport([figure('first', 'First')], path.join(dir, 'inline'), { title: 'Report', plotly: 'inline' });
    expect(inline.map((f) => path.basename(f))).toEqual(['first.html', 'index.html']);
    for (const file of inline) expect(readFileSync(file, 'utf8').match(/plotly\.js v4/g)!.length, file).toBe(1);
    expect(() => writeReport([figure('same', 'a'), figure('same', 'b')], path.join(dir, 'dup'), { title: 'x' })).toThrow(/share the id 'same'/);
  });

  it('send plotly.js to a notebook with the first figure only', () => {
    const first = notebookHtml(figure('nb', 'Notebook'));
    const second = notebookHtml(figure('nb', 'Notebook'));
    expect(first.includes('plotly.js v4')).toBe(true);
    expect(second.includes('plotly.js v4')).toBe(false);
    expect(second.includes('data-clusterkv-figure="nb"')).toBe(true);
    expect(first.match(/id="(fig-nb-[^"]+)"/)![1]).not.toBe(second.match(/id="(fig-nb-[^"]+)"/)![1]);
  });

  it('reject ids that cannot name a file', () => {
    expect(() => figureHtml(figure('../evil', 'x'))).toThrow(/figure id/);
  });
});

describe('PNG writer', () => {
  itNeeds('chromium', 'renders figures through headless Chromium at twice their size', async () => {
    const [png] = await renderPngs([figure('png', 'PNG test')]);
    const bytes = Buffer.from(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.readUInt32BE(16)).toBe(800); // IHDR width
    expect(bytes.readUInt32BE(20)).toBe(600); // IHDR height
    expect(bytes.length).toBeGreaterThan(5000); // a drawn plot, not a blank page
  }, 60_000);

  it('says how to get Chromium when the configured one is missing', async () => {
    const saved = process.env.CLUSTERKV_CHROMIUM;
    process.env.CLUSTERKV_CHROMIUM = path.join(dir, 'no-chromium');
    try {
      await expect(renderPngs([figure('x', 'x')])).rejects.toThrow(/CLUSTERKV_CHROMIUM points to .*no-chromium/);
    } finally {
      if (saved === undefined) delete process.env.CLUSTERKV_CHROMIUM;
      else process.env.CLUSTERKV_CHROMIUM = saved;
    }
    expect(existsSync(path.join(dir, 'no-chromium'))).toBe(false);
  });
});
