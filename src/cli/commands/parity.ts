/**
 * `clusterkv parity --backend B`: every kernel of the kernel list on every path B has (op chains, and the WGSL
 * kernels on webgpu), and the pipeline, against the cpu backend's op chains; exit 1 on any mismatch.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { gpuAdapterInfo } from '../../gpu/backend.js';
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
    .action(async (flags: { backend?: string; json?: boolean; out?: string }) => {
      const report = await runParity(flags.backend ?? process.env.CLUSTERKV_BACKEND ?? '', 'cpu');
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
