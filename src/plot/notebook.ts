/**
 * Figures in Jupyter (tslab): HTML output that carries plotly.js with the first figure a kernel shows
 * (about 3.5 MB once per notebook) and only the figure's data afterwards; later outputs wait for window.Plotly.
 * Usage in a notebook: `tslab.display.html(notebookHtml(fig))`.
 */
import type { Figure } from './figure.js';
import { figureFragment, plotlyScriptElement } from './html.js';

let plotlySent = false;

export function notebookHtml(fig: Figure): string {
  const bundle = plotlySent ? '' : plotlyScriptElement();
  plotlySent = true;
  return `${bundle}\n${figureFragment(fig, { responsive: true })}`;
}

/** Makes the next figure carry plotly.js again (e.g. after the page that showed the first one was cleared). */
export function resendPlotly(): void {
  plotlySent = false;
}
