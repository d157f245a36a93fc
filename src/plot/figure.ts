/**
 * A figure: plotly.js traces and layout as plain JSON, plus the file stem it is written under.
 * Builders return Figures; writers (html.ts, png.ts, notebook.ts) render them. No plotly types are
 * installed, so traces and layouts are typed loosely as JSON objects.
 */
export type PlotlyTrace = Record<string, unknown>;
export type PlotlyLayout = Record<string, unknown>;

export interface Figure {
  /** file stem and HTML element id: lowercase letters, digits and dashes */
  id: string;
  /** the title shown above the plot (also in layout.title) */
  title: string;
  data: PlotlyTrace[];
  layout: PlotlyLayout;
  /** pixel size for PNG output and the default size of the HTML plot */
  width: number;
  height: number;
}

const ID_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

/** Checks an id so it can safely name a file and an HTML element. */
export function checkFigureId(id: string): string {
  if (!ID_PATTERN.test(id)) throw new RangeError(`figure id must be lowercase letters, digits and dashes, got '${id}'`);
  return id;
}
