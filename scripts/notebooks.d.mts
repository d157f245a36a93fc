// Types of scripts/notebooks.mjs for TypeScript importers (the tests).
export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}
export interface NotebookCell {
  cell_type: string;
  execution_count?: number | null;
  outputs?: NotebookOutput[];
  source?: string | string[];
}
export interface Notebook {
  cells?: NotebookCell[];
  metadata?: { clusterkv?: { figures?: string[] }; [key: string]: unknown };
}
/** Writes .jupyter/share/jupyter/kernels/clusterkv-tslab/kernel.json for this checkout; returns the JUPYTER_PATH entry. */
export function registerKernel(): string;
/** Figure ids shown in a notebook's outputs (data-clusterkv-figure="<id>" in text/html outputs). */
export function figuresShown(nb: Notebook): Set<string>;
/** Problems of an executed notebook: cell errors and figures its metadata lists that no output shows. */
export function notebookProblems(nb: Notebook): string[];
