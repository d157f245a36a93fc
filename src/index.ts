/**
 * ClusterKV Lab's public API: `import { ... } from 'clusterkv-lab'` (built to dist/ with type declarations;
 * notebooks import the same modules from ./src). Deeper modules: `clusterkv-lab/<folder>/<module>`.
 */
export { VERSION } from './version.js';

// tfjs backends: one place chooses the backend every algorithm runs on
export { useBackend, probeBackends, gpuAdapterInfo, BackendError, BACKEND_NAMES, type BackendName, type BackendProbe } from './gpu/backend.js';

// traces: format v1 (safetensors + manifest), lazy reader, streaming writer, synthetic traces, subsets
export { TraceReader } from './trace/reader.js';
export { TraceWriter, writeTrace, traceTensorSpecs, type TraceLayer } from './trace/writer.js';
export { TraceError } from './trace/errors.js';
export { TRACE_FORMAT, TRACE_VERSION, layerTensorNames, traceManifestSchema, type TraceManifest, type TraceDType } from './trace/manifest.js';
export { writeSyntheticTrace, DEFAULT_SYNTH, type SynthOptions } from './trace/synth.js';
export { exportTrace, type ExportOptions } from './trace/subset.js';

// methods (ClusterKV and the baselines behind one Selector interface), budgets, replay, metrics, sweeps
export * from './sim/methods/index.js';
export * from './sim/selector.js';
export * from './sim/budget.js';
export * from './sim/replay.js';
export * from './sim/metrics.js';
export * from './sim/sweep.js';
export { sparseLayerRows, checkSparseLayers } from './sim/sparse-layers.js';
export { readSweepFolder, readSweepManifest, ResultsFolderError, type SweepFolder } from './sim/results-folder.js';
export { RESULT_COLUMNS, sweepManifestSchema, type SweepManifest, type ResultRow } from './sim/results-schema.js';
export { driveLayer, type LayerConsumer, type DriverStep, type LayerTensors } from './sim/layer-driver.js';
export { clusterStats, type ClusterStatRow } from './sim/cluster-stats.js';
export { exportResults, EXPORT_FORMATS, type ExportFormat } from './sim/export.js';

// the GPU cache simulation of the units methods select
export { parsePolicySpecs, recordUnitAccesses, simulateCache, summarizeCache, type CachePolicySpec, type AccessSequence } from './sim/cachesim.js';

// real models: llama2.c and Hugging Face Llama/Mistral/Qwen2 checkpoints with pluggable attention
export { loadModel, loadTokenizer } from './model/load.js';
export { generate, type GenerateOptions, type GenerateResult } from './model/generate.js';
export { compareGeneration, teacherForcedPerplexity, type ComparisonSummary, type StepComparison, type PerplexityResult } from './model/compare.js';
export { captureTrace, type CaptureOptions, type CaptureResult } from './model/capture.js';
export { createSampler, type Sampler } from './model/sampling.js';
export { readText, encodePrefix } from './model/texts.js';
export { ModelError, CheckpointError } from './model/errors.js';
export type { LlamaModel, ModelSession } from './model/transformer.js';

// one runtime for real models: on webgpu the WebGPU engine (weights straight to the GPU, prefill and decode
// there, f16 storage), the tfjs op path elsewhere; its footprint and bytes bound; random checkpoints of real shapes
export { chooseRuntime, loadRuntimeModel, describeRuntime, generateWith, compareWith, perplexityWith, captureWith, type RuntimeModel, type RuntimeChoice } from './model/runtime.js';
export { loadEngineModel, engineModelFrom, type EngineModel, type DTypeChoice } from './model/engine/engine-model.js';
export { EngineSession, engineAttentionOf, type EngineSessionOptions } from './model/engine/engine-session.js';
export { generateOnEngine, type EngineGenerateOptions, type EngineRunSummary } from './model/engine/engine-generate.js';
export { compareGenerationOnEngine, teacherForcedPerplexityOnEngine, teacherForcedLogitsOnEngine } from './model/engine/engine-compare.js';
export { captureTraceOnEngine } from './model/engine/engine-capture.js';
export { engineFootprint, footprintProblem, type EngineFootprint } from './model/engine/footprint.js';
export { modelFit, formatModelFit, type ModelFit } from './model/engine/model-fit.js';
export { writeRandomCheckpoint, RANDOM_CHECKPOINT_SHAPES, type RandomCheckpointOptions } from './model/random-checkpoint.js';
export type { TextTokenizer } from './model/tokenizer.js';

// figures: builders (table -> Figure) and writers (HTML, PNG, notebook output)
export {
  type Figure, PlotError, recallVsBudgetFigure, errorVsBudgetFigure, recallHeatmapFigure, paretoLatencyFigure, clusterSizesFigure,
  clusterDispersionFigure, latencyBreakdownFigure, metricVsBudgetFigure, cacheHitRateFigure, latencyVsContextFigure, gridHeatmapFigure,
  parityScatterFigure, sweepFigures, figureHtml, writeFigureHtml, writeReport, renderPngs, writeFigurePngs, notebookHtml, type BandDisplay,
} from './plot/index.js';
