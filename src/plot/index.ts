/** Figures of ClusterKV Lab: builders (arquero table -> Figure) and writers (HTML, PNG, notebook output). */
export * from './figure.js';
export * from './errors.js';
export type { Band } from './series.js';
export { recallVsBudgetFigure, defaultSeriesBy } from './recallVsBudget.js';
export { errorVsBudgetFigure } from './errorVsBudget.js';
export { paretoLatencyFigure, paretoFront, type ParetoPoint } from './paretoLatency.js';
export { recallHeatmapFigure, middleBudget } from './recallHeatmap.js';
export { clusterSizesFigure } from './clusterSizes.js';
export { clusterDispersionFigure } from './clusterDispersion.js';
export { latencyBreakdownFigure } from './latencyBreakdown.js';
export { figureHtml, figureFragment, writeFigureHtml, reportHtml, writeReport } from './html.js';
export { renderPngs, writeFigurePngs, chromiumPath } from './png.js';
export { notebookHtml } from './notebook.js';
export { sweepFigures, seriesColumns, sparseLayerRows, type SweepCellRecord } from './sweepFigures.js';
