/**
 * `clusterkv generate` as a user reads it (issue 22, item 11): the prompt is echoed, the line before the
 * text says which attention decoded it (a sparse method, with dense compared on the same tokens), and
 * --steps 0 is an error as in capture.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';

const models = path.join('..', 'shared', 'models', 'stories260K');
const base = ['generate', '--model', path.join(models, 'stories260K.bin'), '--tokenizer', path.join(models, 'tok512.bin'), '--prompt', 'Once upon a time', '--backend', 'cpu'];

describe('clusterkv generate output', () => {
  it('echoes the prompt and says which attention decoded the text', async () => {
    const sparse = await runCliCaptured([...base, '--steps', '6', '--attention', 'oracle', '--budget', '4']);
    expect(sparse.code, sparse.stderr).toBe(0);
    const lines = sparse.stdout.split('\n');
    expect(lines[0]).toBe('prompt (5 tokens): "Once upon a time"');
    expect(lines[1]).toMatch(/^oracle \{"budget":4,.*\} decodes the text below \(dense attention is compared on the same tokens after it\):$/);
    expect(lines[2].length).toBeGreaterThan(0);
    expect(lines[3]).toMatch(/^oracle \{"budget":4,.*\}: mean KL\(dense \|\| sparse\)/);
    const dense = await runCliCaptured([...base, '--steps', '6']);
    expect(dense.stdout.split('\n').slice(0, 2)).toEqual(['prompt (5 tokens): "Once upon a time"', 'dense attention decodes the text below:']);
    // --json keeps its one object
    expect(JSON.parse((await runCliCaptured([...base, '--steps', '2', '--json'])).stdout).attention).toBe('dense');
  }, 120_000);

  it('--steps 0 is an error, as in capture', async () => {
    for (const command of [base, ['capture', ...base.slice(1, 5), '--text', 'moby-dick', '--context', '8', '--out', 'never.safetensors']]) {
      const run = await runCliCaptured([...command, '--steps', '0']);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('clusterkv: --steps must be >= 1, got 0\n');
    }
  });
});
