/**
 * `clusterkv parity --backend B`: every kernel of the kernel list on every path B has (op chains, and the WGSL
 * kernels on webgpu), and the pipeline, against the cpu backend's op chains; on webgpu also every method's
 * batched selection against its tfjs selector, and with --model generation through the decode engine with
 * every method it runs against the tfjs model path; exit 1 on any mismatch.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { gpuAdapterInfo } from '../../gpu/backend.js';
import { engineParityChecks } from '../../model/engine/engine-parity.js';
import { engineModelFrom } from '../../model/engine/engine-model.js';
import { loadModel } from '../../model/load.js';
import { writeFileAtomic } from '../../sim/results-folder.js';
import { runParity } from '../../sim/parity.js';
import { backendOption } from '../options.js';
import { formatTable } from '../table.js';
import { UserError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('parity')
    .description('check every kernel of the kernel list (op chains and WGSL kernels) and the pipeline on a backend against the cpu backend (exact integers; floats within 1e-5, pipeline 1e-4)')
    .addOption(backendOption())
    .option('--json', 'print the report as JSON')
    .option('--out <file.json>', 'also write the JSON report here')
    .option('--model <file>', 'webgpu: also generate with every method the decode engine runs on this model (llama2c .bin or Hugging Face folder) and compare tokens and logits with the tfjs model path')
    .action(async (flags: { backend?: string; json?: boolean; out?: string; model?: string }) => {
      const backend = flags.backend ?? process.env.CLUSTERKV_BACKEND ?? '';
      if (flags.model !== undefined) {
        if (backend !== 'webgpu') throw new UserError(`--model: the decode engine runs on webgpu; give --backend webgpu (got ${backend ? `'${backend}'` : 'none'})`);
        if (!existsSync(flags.model)) throw new UserError(`--model: no such file or folder: ${flags.model}`);
      }
      const report = await runParity(backend, 'cpu');
      if (flags.model !== undefined) {
        const model = await loadModel(path.resolve(flags.model));
        const { weights } = await engineModelFrom(model);
        try {
          const checks = await engineParityChecks(model, weights, 10, (label) => console.error(`engine parity: ${label}`));
          report.checks.push(...checks);
          report.pass = report.pass && checks.every((c) => c.pass);
        } finally {
          weights.dispose();
          model.dispose();
        }
      }
      if (flags.out) writeFileAtomic(path.resolve(flags.out), JSON.stringify({ kind: 'clusterkv-parity', created: new Date().toISOString(), adapter: gpuAdapterInfo() ?? null, ...report }, null, 2));
      if (flags.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(formatTable(report.checks as unknown as Record<string, unknown>[], ['output', 'path', 'kind', 'length', 'worst', 'tolerance', 'pass'], 8));
        if (report.notCompared.length) console.log(`\nno op chain to compare: ${report.notCompared.join(', ')}`);
        console.log(`\n${report.target} vs ${report.reference}: ${report.pass ? 'PASS' : 'FAIL'} (${report.checks.filter((c) => c.pass).length}/${report.checks.length} outputs, ${report.leakedTensors} tensors leaked)`);
      }
      if (!report.pass) throw new UserError(`parity failed on ${report.target}`);
    });
}
