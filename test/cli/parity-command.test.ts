/**
 * `clusterkv parity --model`: the decode engine's check needs webgpu and an existing model, each refused in
 * one line before any backend work. (The checks themselves: test/sim/parity.test.ts and
 * test/model/engine/engine-methods.test.ts run the same functions.)
 */
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../helpers/cli.js';

describe('clusterkv parity --model', () => {
  it('refuses a backend other than webgpu and a missing model in one line', async () => {
    const wasm = await runCliCaptured(['parity', '--backend', 'wasm', '--model', 'x.bin']);
    expect(wasm.code).toBe(1);
    expect(wasm.stderr.trim()).toBe("clusterkv: --model: the decode engine runs on webgpu; give --backend webgpu (got 'wasm')");
    const missing = await runCliCaptured(['parity', '--backend', 'webgpu', '--model', 'no-such-model.bin']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('clusterkv: --model: no such file or folder: no-such-model.bin');
  });
});
