/**
 * `clusterkv capture`: prefill N tokens of a text through a real model, then S decode steps teacher-forced
 * from the text, and write the post-RoPE q/k/v and dense attention outputs of every layer as a v1 trace.
 * On webgpu the WebGPU engine prefills all N + S tokens and the trace is read from that prefill (runtime.ts).
 */
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import { CaptureInterrupted } from '../../model/capture.js';
import { captureWith, chooseRuntime, describeRuntime } from '../../model/runtime.js';
import { encodePrefix, readText } from '../../model/texts.js';
import { engineDTypeOptions, parseDTypeFlag } from '../engine-flags.js';
import { checkOutputFile, UserError } from '../errors.js';
import { backendOption } from '../options.js';
import { withInterrupt } from '../interrupt.js';
import { checkFitsMemory, loadRuntimeModelOption, loadTokenizerOption, pastContextWarning } from '../model-input.js';
import { HeldWarnings } from '../warn.js';
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
  const partial = `${flags.out}.partial`;
  const warnings = new HeldWarnings();
  if (existsSync(partial)) warnings.hold(`${partial} is left from a capture that was killed; this capture replaces it`);
  const weights = parseDTypeFlag('--weights-dtype', flags.weightsDtype);
  const backend = await useBackend(flags.backend);
  const loaded = await loadRuntimeModelOption(flags.model, chooseRuntime(backend, ['dense']), { weights });
  const runtime = describeRuntime(loaded);
  const model = loaded.model;
  // a second Ctrl-C or a SIGTERM exits at once: the partial file goes with the process
  const removePartial = () => rmSync(partial, { force: true });
  const onTerm = () => {
    process.stderr.write(`\nclusterkv: capture terminated: nothing written to ${flags.out}\n`);
    process.exit(143);
  };
  process.on('exit', removePartial);
  process.once('SIGTERM', onTerm);
  try {
    const tokenizer = await loadTokenizerOption(flags.tokenizer, model);
    const { text: full } = await readText(flags.text);
    if (offset >= full.length) throw new UserError(`--offset ${offset} is past the end of the text (${full.length} characters)`);
    const text = full.slice(offset);
    checkFitsMemory(loaded, N + S, `--context ${N} + --steps ${S}`);
    warnings.hold(pastContextWarning(model, N + S, `--context ${N} + --steps ${S}`));
    const tokens = encodePrefix(tokenizer, text, N + S);
    const bar = progressBar('capture', 'layer chunks');
    const t0 = performance.now();
    const result = await withInterrupt('row chunk', (err) => err instanceof CaptureInterrupted, (signal) =>
      captureWith(loaded, tokens, flags.out, { prefillLength: N, steps: S, dtype, prompt: text, signal, onProgress: (d, t) => {
        warnings.flush();
        bar.update(d, t);
      } }),
    ).finally(() => bar.stop());
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
    process.off('exit', removePartial);
    process.off('SIGTERM', onTerm);
    model.dispose();
  }
}

export function register(program: Command): void {
  const command = program
    .command('capture')
    .description('capture a v1 attention trace (post-RoPE q/k/v and dense outputs per layer) from a real model over a text')
    .requiredOption('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face checkpoint folder')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or tokenizer.json (default: the HF checkpoint folder\'s tokenizer.json)')
    .requiredOption('--text <file>', 'text file, or moby-dick (texts/moby-dick.txt, shipped with the package)')
    .requiredOption('--context <n>', 'prefill length N in tokens')
    .requiredOption('--steps <n>', 'decode steps S recorded after the prefill (teacher-forced from the text)')
    .requiredOption('--out <file>', 'output trace (.safetensors)')
    .option('--dtype <F16|F32>', 'stored precision of q/k/v/out', 'F16')
    .option('--offset <chars>', 'start reading the text at this character', '0')
    .addOption(backendOption())
    .option('--quiet', 'print no summary')
    .option('--json', 'print the summary as JSON (file, bytes, seconds, manifest)');
  // the engine's KV cache stays f32 for a trace: no --kv-dtype
  engineDTypeOptions(command, { kv: false }).action(async (flags: CaptureFlags) => runCapture(flags));
}
