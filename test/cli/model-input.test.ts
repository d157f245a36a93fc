/**
 * A bad --model or --tokenizer (issue 22, item 8) is one line naming the option and the path: a folder that
 * is no checkpoint, a trace given as the model, a model given as the tokenizer, a folder without a
 * tokenizer.json, a tokenizer given as the model.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';
import { smallTrace, tempDir } from '../helpers/traces.js';

const models = path.join('..', 'shared', 'models');
const model = path.join(models, 'stories260K', 'stories260K.bin');
const tok = path.join(models, 'stories260K', 'tok512.bin');
let trace: string;
let folder: string;

beforeAll(async () => {
  trace = await smallTrace({ layers: 1, context: 64, steps: 2 });
  folder = tempDir('ckv-not-a-model-');
  mkdirSync(path.join(folder, 'sub'));
});

async function line(...args: string[]): Promise<string> {
  const run = await runCliCaptured(['generate', ...args, '--steps', '2', '--backend', 'cpu']);
  expect(run.code, run.stdout).toBe(1);
  expect(run.stderr).toMatch(/^clusterkv: [^\n]+\n$/);
  return run.stderr.trim();
}

describe('--model and --tokenizer errors', () => {
  it('name the option and the path', async () => {
    expect(await line('--model', folder, '--tokenizer', tok)).toBe(`clusterkv: --model ${folder}: a folder without config.json, so not a Hugging Face checkpoint (a llama2.c checkpoint is one .bin file)`);
    expect(await line('--model', trace, '--tokenizer', tok)).toBe(`clusterkv: --model ${trace}: a clusterkv trace, not a model checkpoint (give the llama2.c .bin or Hugging Face folder of a model)`);
    expect(await line('--model', model, '--tokenizer', model)).toBe(`clusterkv: --tokenizer ${model}: is the model checkpoint, not a tokenizer`);
    expect(await line('--model', model, '--tokenizer', trace)).toMatch(new RegExp(`^clusterkv: --tokenizer ${trace.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a llama2.c tokenizer.bin \\(`));
    expect(await line('--model', model, '--tokenizer', folder)).toBe(`clusterkv: --tokenizer ${folder}: a folder without tokenizer.json (give a tokenizer.json or a llama2.c tokenizer.bin)`);
    expect(await line('--model', tok, '--tokenizer', tok)).toMatch(/^clusterkv: --model \.\.\/shared\/models\/stories260K\/tok512\.bin: bad header/);
    expect(await line('--model', model)).toBe(`clusterkv: --model ${model}: a llama2.c checkpoint carries no tokenizer: pass its tokenizer.bin`);
    expect(await line('--model', path.join(models, 'ckvlab-passkey-9m', 'hf-f16'))).toBe(`clusterkv: --model ${path.join(models, 'ckvlab-passkey-9m', 'hf-f16')}: the checkpoint has no tokenizer.json (${path.join(models, 'ckvlab-passkey-9m', 'hf-f16', 'tokenizer.json')}): pass the tokenizer`);
  });

  it('the same lines from capture and eval passkey', async () => {
    const capture = await runCliCaptured(['capture', '--model', trace, '--tokenizer', tok, '--text', 'moby-dick', '--context', '16', '--steps', '1', '--out', path.join(tempDir(), 'c.safetensors'), '--backend', 'cpu']);
    expect(capture.stderr).toBe(`clusterkv: --model ${trace}: a clusterkv trace, not a model checkpoint (give the llama2.c .bin or Hugging Face folder of a model)\n`);
    const evalRun = await runCliCaptured(['eval', 'passkey', '--model', model, '--tokenizer', folder, '--out', path.join(tempDir(), 'e'), '--backend', 'cpu']);
    expect(evalRun.stderr).toBe(`clusterkv: --tokenizer ${folder}: a folder without tokenizer.json (give a tokenizer.json or a llama2.c tokenizer.bin)\n`);
  });
});
