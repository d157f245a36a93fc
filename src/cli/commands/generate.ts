/**
 * `clusterkv generate`: run a real model with dense or sparse (any method) decode attention; print the text.
 * With a sparse attention, a dense run on the same tokens reports next-token KL (dense || sparse) and top-1
 * agreement per step; --perplexity scores a text teacher-forced, dense and sparse. On webgpu the WebGPU
 * engine runs the model (runtime.ts; the tfjs op path where the engine lacks the attention); the summary
 * names the runtime, prefill and decode tokens/s and ms per token.
 */
import type { Command } from 'commander';
import { useBackend } from '../../gpu/backend.js';
import type { ComparisonSummary, StepComparison } from '../../model/compare.js';
import type { GenerateResult } from '../../model/generate.js';
import { chooseRuntime, compareWith, describeRuntime, generateWith, perplexityWith } from '../../model/runtime.js';
import { createSampler } from '../../model/sampling.js';
import { encodePrefix, readText } from '../../model/texts.js';
import type { TextTokenizer } from '../../model/tokenizer.js';
import type { Method, ParamValue } from '../../sim/selector.js';
import { createMethod } from '../../sim/methods/index.js';
import { engineDTypeOptions, engineDTypes, type EngineDTypeFlags } from '../engine-flags.js';
import { UserError } from '../errors.js';
import { backendOption } from '../options.js';
import { collect, parseIntFlag, parseParamFlags } from '../parse.js';
import { checkFitsMemory, loadRuntimeModelOption, loadTokenizerOption, pastContextWarning } from '../model-input.js';
import { warn } from '../warn.js';
import { progressBar } from '../progress.js';

export interface GenerateFlags extends EngineDTypeFlags {
  model: string;
  tokenizer?: string;
  prompt?: string;
  text?: string;
  context?: string;
  steps: string;
  temperature: string;
  seed: string;
  attention: string;
  budget?: string;
  clusters?: string;
  param: string[];
  perplexity?: boolean;
  perStep?: boolean;
  /** false (--no-compare): a sparse method generates alone, without the dense run beside it */
  compare?: boolean;
  backend?: string;
  json?: boolean;
}

/** The decode attention named by the flags: 'dense' or a Method from the registry. */
export function attentionFromFlags(flags: Pick<GenerateFlags, 'attention' | 'budget' | 'clusters' | 'param'>): 'dense' | Method {
  if (flags.attention === 'dense') {
    if (flags.budget || flags.clusters || flags.param.length) throw new UserError('--budget, --clusters and --param need a sparse --attention METHOD');
    return 'dense';
  }
  const params: Record<string, ParamValue> = {};
  if (flags.budget !== undefined) params.budget = parseIntFlag('--budget', flags.budget, 1);
  if (flags.clusters !== undefined) params.clusters = parseIntFlag('--clusters', flags.clusters, 1);
  return createMethod(flags.attention, { ...params, ...parseParamFlags(flags.param, 'generate') });
}

function describeComparison(c: ComparisonSummary, label: string, method: Method): string {
  const line = `${label}: mean KL(dense || sparse) ${c.meanKl.toExponential(3)} nats, max ${c.maxKl.toExponential(3)}, top-1 agreement ${(100 * c.top1Agreement).toFixed(1)}% over ${c.steps.length} steps`;
  if (c.sparseSteps > 0 && c.stepsBudgetBound === 0) {
    return `${line}\nnote: the budget never bound: at every decode step sinks + open window + budget ${method.budget} covered every position, so ${method.name} attended densely (use a longer prompt or a smaller --budget)`;
  }
  if (c.stepsBudgetBound < c.sparseSteps) return `${line}\nnote: the budget bound at ${c.stepsBudgetBound} of ${c.sparseSteps} decode steps (at the others every position was attended)`;
  return line;
}

/** The prompt as the line before the text: its token count and text (a long one by its start and end). */
export function promptLine(tokenizer: TextTokenizer, prompt: readonly number[]): string {
  const text = tokenizer.decode(prompt);
  const shown = text.length > 160 ? `${JSON.stringify(text.slice(0, 80))} ... ${JSON.stringify(text.slice(-60))}` : JSON.stringify(text);
  return `prompt (${prompt.length} ${prompt.length === 1 ? 'token' : 'tokens'}): ${shown}`;
}

function stepLine(s: StepComparison, tokenizer: TextTokenizer): string {
  const piece = JSON.stringify(tokenizer.decode([s.token]));
  return `step ${s.step}\ttoken ${s.token} ${piece}\tKL ${s.kl.toExponential(3)}\ttop1 ${s.denseTop1 === s.sparseTop1 ? 'same' : `dense ${s.denseTop1} / sparse ${s.sparseTop1}`}`;
}

/** Rates of a generation, for the summary line and --json: prefill and decode tokens/s, ms per decode token. */
function rates(r: GenerateResult, promptTokens: number): { prefillTokensPerSecond: number; decodeTokensPerSecond: number | null; msPerToken: number | null } {
  const decoded = Math.max(0, r.ids.length - 1);
  return {
    prefillTokensPerSecond: promptTokens / r.prefillSeconds,
    decodeTokensPerSecond: decoded > 0 ? decoded / r.decodeSeconds : null,
    msPerToken: decoded > 0 ? (1000 * r.decodeSeconds) / decoded : null,
  };
}

export async function runGenerate(flags: GenerateFlags): Promise<void> {
  const steps = parseIntFlag('--steps', flags.steps, 1);
  const temperature = Number(flags.temperature);
  if (!(temperature >= 0)) throw new UserError(`--temperature must be a number >= 0, got '${flags.temperature}'`);
  const seed = parseIntFlag('--seed', flags.seed);
  if (flags.prompt !== undefined && flags.text !== undefined) throw new UserError('give either --prompt or --text, not both');
  const attention = attentionFromFlags(flags);
  const dtypes = engineDTypes(flags);
  const backend = await useBackend(flags.backend);
  const choice = chooseRuntime(backend, [attention]);
  const loaded = await loadRuntimeModelOption(flags.model, choice, { weights: dtypes.weights });
  const runtime = describeRuntime(loaded);
  const model = loaded.model;
  const tokenizer = await loadTokenizerOption(flags.tokenizer, model);
  const source = flags.text !== undefined ? (await readText(flags.text)).text : (flags.prompt ?? '');
  const context = flags.context !== undefined ? parseIntFlag('--context', flags.context, 1) : undefined;
  const method = attention === 'dense' ? undefined : attention;
  const label = method ? `${method.name} ${JSON.stringify(method.params)}` : 'dense';
  try {
    if (flags.perplexity) {
      if (context === undefined) throw new UserError('--perplexity needs --context N (the prompt length; the next --steps tokens are scored)');
      if (steps < 1) throw new UserError('--perplexity needs --steps >= 1 (tokens scored)');
      checkFitsMemory(loaded, context + steps, `--context ${context} + --steps ${steps}`);
      const past = pastContextWarning(model, context + steps, `--context ${context} + --steps ${steps}`);
      const tokens = encodePrefix(tokenizer, source, context + steps);
      const t0 = performance.now();
      const bar = progressBar('perplexity', 'tokens');
      if (past) warn(past);
      bar.update(0, steps, 'prefill');
      const r = await perplexityWith(loaded, tokens, context, method, (done, total) => bar.update(done, total), { kv: dtypes.kv });
      bar.stop();
      const seconds = (performance.now() - t0) / 1000;
      if (flags.json) {
        console.log(JSON.stringify({ attention: label, backend, runtime, context, steps, seconds, ...r }, null, 2));
        return;
      }
      if (flags.perStep && r.comparison) for (const s of r.comparison.steps) console.log(stepLine(s, tokenizer));
      console.log(`teacher-forced perplexity over tokens ${context}..${context + steps - 1} (${r.scored} scored) on ${backend} (${runtime}): dense ${r.densePerplexity.toFixed(4)}`);
      if (r.sparsePerplexity !== undefined) console.log(`${label}: perplexity ${r.sparsePerplexity.toFixed(4)}`);
      if (r.comparison && method) console.log(describeComparison(r.comparison, label, method));
      console.error(`(${seconds.toFixed(1)} s)`);
      return;
    }
    if (context !== undefined) checkFitsMemory(loaded, context + steps, `--context ${context} + --steps ${steps}`);
    const prompt = context !== undefined ? encodePrefix(tokenizer, source, context) : tokenizer.encode(source);
    checkFitsMemory(loaded, prompt.length + steps, `the prompt's ${prompt.length} tokens + --steps ${steps}`);
    const past = pastContextWarning(model, prompt.length + steps, `the prompt's ${prompt.length} tokens + --steps ${steps}`);
    if (past) warn(past);
    // which text follows, after the prompt it continues (the text streams right after this line)
    if (!flags.json) process.stdout.write(`${promptLine(tokenizer, prompt)}\n${method ? `${label} decodes the text below${flags.compare === false ? '' : ' (dense attention is compared on the same tokens after it)'}:` : 'dense attention decodes the text below:'}\n`);
    const sampler = createSampler(temperature, seed);
    const decodeNext = tokenizer.streamDecoder(prompt[prompt.length - 1]);
    // the text streams to stdout: a bar on the same terminal would tear it, so it shows only when stdout goes elsewhere
    const bar = flags.json || !process.stdout.isTTY ? progressBar('generate', 'tokens') : { update() {}, stop() {} };
    bar.update(0, steps, 'prefill');
    // the engine's prefill runs before any text: its bar never tears the text
    const prefillBar = progressBar('prefill', 'tokens');
    let text = '';
    const emit = (piece: string) => {
      if (flags.json) text += piece;
      else process.stdout.write(piece);
    };
    if (!method || flags.compare === false) {
      if (flags.perStep) throw new UserError('--per-step compares with dense: it cannot go with --no-compare');
      const options = {
        steps, sampler, stopIds: tokenizer.stopIds,
        onToken: (id: number, step: number) => {
          if (step === 0) prefillBar.stop();
          emit(decodeNext(id));
          bar.update(step + 1, steps);
        },
      };
      const { engine, ...r } = await generateWith(loaded, prompt, { ...options, attention, kv: dtypes.kv, onPrefill: (done, total) => prefillBar.update(done, total) });
      prefillBar.stop();
      bar.stop();
      const rate = rates(r, prompt.length);
      const storage = engine ? { weights: engine.weights, kv: engine.kv, attentionKernel: engine.attentionKernel, clusterSeconds: engine.clusterSeconds } : {};
      if (flags.json) {
        console.log(JSON.stringify({ attention: label, backend, runtime, ...storage, promptTokens: prompt.length, ids: r.ids, text, prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds, ...rate, stoppedBy: r.stoppedBy }, null, 2));
        return;
      }
      process.stdout.write('\n');
      if (r.stoppedBy === 'stop-id') console.error(`stopped at the end of the text (a stop token) after ${r.ids.length} of ${steps} tokens`);
      const decodeRate = rate.decodeTokensPerSecond !== null ? `${rate.decodeTokensPerSecond.toFixed(1)} tok/s (${rate.msPerToken!.toFixed(2)} ms/token)` : '-';
      const kv = engine ? `, ${engine.kv} KV, ${engine.attentionKernel} attention` : '';
      console.error(`prefill ${prompt.length} tokens in ${r.prefillSeconds.toFixed(3)} s (${rate.prefillTokensPerSecond.toFixed(1)} tok/s), decode ${r.ids.length} tokens at ${decodeRate}${method ? ` with ${method.name}${Number.isFinite(method.budget) ? ` B=${method.budget}` : ''}` : ''} on ${backend} (${runtime}${kv})`);
      return;
    }
    const lines: string[] = [];
    const t0 = performance.now();
    const compareOptions = {
      steps,
      sampler,
      stopIds: tokenizer.stopIds,
      onStep: (s: StepComparison) => {
        if (flags.perStep) lines.push(stepLine(s, tokenizer));
        if (!tokenizer.stopIds.includes(s.token)) emit(decodeNext(s.token));
        bar.update(s.step + 1, steps);
      },
    };
    const r = await compareWith(loaded, method, prompt, { ...compareOptions, kv: dtypes.kv });
    prefillBar.stop();
    bar.stop();
    const seconds = (performance.now() - t0) / 1000;
    if (flags.json) {
      console.log(JSON.stringify({ attention: label, backend, runtime, promptTokens: prompt.length, ids: r.ids, text, seconds, tokensPerSecond: r.ids.length / seconds, comparison: r.comparison }, null, 2));
      return;
    }
    process.stdout.write('\n');
    for (const line of lines) console.log(line);
    console.log(describeComparison(r.comparison, label, method));
    if (r.ids.length < steps && r.comparison.steps.length > r.ids.length) console.error(`stopped at the end of the text (a stop token) after ${r.ids.length} of ${steps} tokens`);
    console.error(`${r.ids.length} tokens, dense and sparse side by side, in ${seconds.toFixed(1)} s (${(r.ids.length / seconds).toFixed(1)} tok/s of each) on ${backend} (${runtime})`);
  } finally {
    loaded.model.dispose();
  }
}

export function register(program: Command): void {
  const command = program
    .command('generate')
    .description('generate text with a real model (llama2.c .bin or Hugging Face folder), dense or through a sparse attention method; compare sparse with dense (KL, top-1, perplexity)')
    .requiredOption('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face checkpoint folder (config.json + safetensors)')
    .option('--tokenizer <path>', 'llama2.c tokenizer.bin or tokenizer.json (default: the HF checkpoint folder\'s tokenizer.json)')
    .option('--prompt <text>', 'prompt text (default: empty, i.e. BOS only)')
    .option('--text <file>', 'read the prompt from a file (or moby-dick); with --context, only its first N tokens')
    .option('--context <n>', 'prompt length in tokens taken from --prompt/--text (with --perplexity: tokens before the scored ones)')
    .option('--steps <n>', 'tokens to generate (with --perplexity: tokens to score)', '200')
    .option('--temperature <t>', '0 = greedy; > 0 samples from softmax(logits / t) with a seeded PRNG', '0')
    .option('--seed <n>', 'seed of the sampling PRNG', '0')
    .option('--attention <method>', 'dense, or a method name (clusterkv, oracle, full, ...) for decode attention', 'dense')
    .option('--budget <n>', 'token budget B of the method')
    .option('--clusters <n>', 'ClusterKV prompt cluster count C0')
    .option('--param <name=value>', 'any other method parameter (repeatable), e.g. --param iters=10', collect, [])
    .option('--perplexity', 'score --text teacher-forced: dense, and sparse when --attention is a method')
    .option('--per-step', 'print KL and top-1 per step (sparse attention)')
    .option('--no-compare', 'with a sparse --attention: generate with it alone (no dense run beside it; its speed, not a comparison)')
    .addOption(backendOption())
    .option('--json', 'print the text and the summary as one JSON object instead of streaming the text');
  engineDTypeOptions(command).action(async (flags: GenerateFlags) => runGenerate(flags));
}
