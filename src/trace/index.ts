/** The trace format: safetensors container + manifest, writer, lazy reader, synthetic traces, export. */
export * from './errors.js';
export * from './manifest.js';
export * from './float16.js';
export * from './safetensors.js';
export * from './writer.js';
export * from './reader.js';
export * from './synth.js';
export * from './subset.js';
