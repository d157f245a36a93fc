/**
 * Self-contained HTML: plotly.js inlined (works offline, no CDN), one file per figure, and a report page
 * (index.html) that embeds every figure and links to the single-figure files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkFigureId, type Figure } from './figure.js';
import { plotlyScript } from './plotly-source.js';

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

/** A complete HTML page showing one figure, plotly.js inlined. */
export function figureHtml(fig: Figure): string {
  return page(fig.title, `${figureFragment(fig)}`);
}

function page(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}section{margin-bottom:40px}</style>',
    plotlyScriptElement(),
    '</head><body>',
    body,
    '</body></html>',
  ].join('\n');
}

export function writeFigureHtml(fig: Figure, file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, figureHtml(fig));
}

export interface ReportOptions {
  title: string;
  /** lines of context shown under the title (trace, spec, versions); plain text */
  notes?: string[];
  /** names of PNG files written next to the HTML, by figure id, to link */
  png?: Record<string, string>;
}

/** The report page: every figure embedded (plotly.js inlined once), each with links to its own files. */
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
  return page(opts.title, body);
}

/** Writes DIR/<id>.html per figure and DIR/index.html; returns the paths written. */
export function writeReport(figs: Figure[], dir: string, opts: ReportOptions): string[] {
  mkdirSync(dir, { recursive: true });
  const ids = new Set<string>();
  const written: string[] = [];
  for (const fig of figs) {
    if (ids.has(fig.id)) throw new RangeError(`two figures share the id '${fig.id}'`);
    ids.add(fig.id);
    const file = path.join(dir, `${fig.id}.html`);
    writeFigureHtml(fig, file);
    written.push(file);
  }
  const index = path.join(dir, 'index.html');
  writeFileSync(index, reportHtml(figs, opts));
  written.push(index);
  return written;
}
