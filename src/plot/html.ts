/**
 * HTML figures that work offline (no CDN): one file per figure and a report page (index.html) that embeds
 * every figure and links to the single-figure files. plotly.js (~4.6 MB) is written once per folder as
 * plotly.min.js and referenced by each page ('file', the default of writeReport), or inlined into every page
 * ('inline': each file stands alone, at ~4.6 MB apiece).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkFigureId, type Figure } from './figure.js';
import { plotlyScript } from './plotly-source.js';

/** How a page gets plotly.js: inlined, or from plotly.min.js next to it. */
export type PlotlyMode = 'inline' | 'file';

/** The file name of the shared bundle in a figures folder. */
export const PLOTLY_FILE = 'plotly.min.js';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside a <script> element (no '</script>' or '<!--' can close it). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The plotly bundle as a script element; '</script' inside it cannot occur in the minified bundle, but is escaped anyway. */
export function plotlyScriptElement(): string {
  return `<script type="text/javascript">${plotlyScript().replace(/<\/script/gi, '<\\/script')}</script>`;
}

let fragmentCount = 0;

/**
 * A <div> with the figure and the script that draws it (expects window.Plotly, or waits up to 10 s for it:
 * in notebooks the bundle may arrive with an earlier output). data-clusterkv-figure marks figures for tests.
 */
export function figureFragment(fig: Figure, opts: { responsive?: boolean } = {}): string {
  // Unique within a page, also across notebook kernel restarts (new pid), and deterministic within a process.
  const id = `fig-${checkFigureId(fig.id)}-${process.pid}-${++fragmentCount}`;
  const layout = { ...fig.layout, width: opts.responsive ? undefined : fig.width, height: fig.height };
  const config = { responsive: opts.responsive ?? false, displaylogo: false, toImageButtonOptions: { format: 'png', filename: fig.id, scale: 2 } };
  return [
    `<div class="clusterkv-figure" data-clusterkv-figure="${escapeHtml(fig.id)}" id="${id}" style="width:${opts.responsive ? '100%' : `${fig.width}px`};height:${fig.height}px"></div>`,
    '<script type="text/javascript">',
    `(function(){var data=${scriptJson(fig.data)},layout=${scriptJson(layout)},config=${scriptJson(config)},t0=Date.now();`,
    `function draw(){var el=document.getElementById(${JSON.stringify(id)});`,
    `if(window.Plotly&&el){window.Plotly.newPlot(el,data,layout,config);}else if(Date.now()-t0<10000){setTimeout(draw,50);}}draw();})();`,
    '</script>',
  ].join('\n');
}

/** A complete HTML page showing one figure; plotly.js inlined unless `plotly` is 'file' (then plotly.min.js sits next to the page). */
export function figureHtml(fig: Figure, plotly: PlotlyMode = 'inline'): string {
  return page(fig.title, `${figureFragment(fig)}`, plotly);
}

function page(title: string, body: string, plotly: PlotlyMode): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}section{margin-bottom:40px}</style>',
    plotly === 'inline' ? plotlyScriptElement() : `<script type="text/javascript" src="${PLOTLY_FILE}"></script>`,
    '</head><body>',
    body,
    '</body></html>',
  ].join('\n');
}

/** Writes DIR/plotly.min.js unless the same bundle is there already; returns its path. */
export function writePlotlyFile(dir: string): string {
  const file = path.join(dir, PLOTLY_FILE);
  const bundle = plotlyScript();
  if (!existsSync(file) || readFileSync(file, 'utf8') !== bundle) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, bundle);
  }
  return file;
}

/** One figure's page; with plotly 'file' the bundle is written next to it (once per folder). */
export function writeFigureHtml(fig: Figure, file: string, plotly: PlotlyMode = 'inline'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  if (plotly === 'file') writePlotlyFile(path.dirname(file));
  writeFileSync(file, figureHtml(fig, plotly));
}

export interface ReportOptions {
  title: string;
  /** lines of context shown under the title (trace, spec, versions); plain text */
  notes?: string[];
  /** names of PNG files written next to the HTML, by figure id, to link */
  png?: Record<string, string>;
  /** 'file' [default]: plotly.min.js once in the folder, referenced by every page; 'inline': in every page */
  plotly?: PlotlyMode;
}

/** The report page: every figure embedded (plotly.js once: from plotly.min.js, or inlined), each with links to its own files. */
export function reportHtml(figs: Figure[], opts: ReportOptions): string {
  const notes = (opts.notes ?? []).map((n) => `<li>${escapeHtml(n)}</li>`).join('\n');
  const sections = figs.map((fig) => {
    const links = [`<a href="${fig.id}.html">${fig.id}.html</a>`];
    if (opts.png?.[fig.id]) links.push(`<a href="${escapeHtml(opts.png[fig.id])}">${escapeHtml(opts.png[fig.id])}</a>`);
    return `<section><h2>${escapeHtml(fig.title)}</h2>\n<p>${links.join(' · ')}</p>\n${figureFragment(fig)}</section>`;
  });
  const contents = figs.map((fig) => `<li><a href="#${fig.id}">${escapeHtml(fig.title)}</a></li>`).join('\n');
  const body = [
    `<h1>${escapeHtml(opts.title)}</h1>`,
    notes ? `<ul>${notes}</ul>` : '',
    `<ol>${contents}</ol>`,
    ...sections.map((s, i) => s.replace('<section>', `<section id="${figs[i].id}">`)),
  ].join('\n');
  return page(opts.title, body, opts.plotly ?? 'file');
}

/** Writes DIR/<id>.html per figure, DIR/index.html and (plotly 'file', the default) DIR/plotly.min.js; returns the paths written. */
export function writeReport(figs: Figure[], dir: string, opts: ReportOptions): string[] {
  const plotly = opts.plotly ?? 'file';
  const ids = new Set<string>();
  for (const fig of figs) {
    if (ids.has(fig.id)) throw new RangeError(`two figures share the id '${fig.id}'`);
    ids.add(fig.id);
  }
  plotlyScript(); // a missing bundle fails before anything is written
  mkdirSync(dir, { recursive: true });
  const written: string[] = plotly === 'file' ? [writePlotlyFile(dir)] : [];
  for (const fig of figs) {
    const file = path.join(dir, `${fig.id}.html`);
    writeFileSync(file, figureHtml(fig, plotly));
    written.push(file);
  }
  const index = path.join(dir, 'index.html');
  writeFileSync(index, reportHtml(figs, { ...opts, plotly }));
  written.push(index);
  return written;
}
