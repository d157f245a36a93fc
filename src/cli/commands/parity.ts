/** `clusterkv parity --backend B`: every ClusterKV kernel on B against the cpu backend; exit 1 on any mismatch. */
import type { Command } from 'commander';
import { runParity } from '../../sim/parity.js';
import { formatTable } from '../table.js';
import { UserError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('parity')
    .description('check every ClusterKV kernel on a backend against the cpu backend (exact integers, floats within 1e-4)')
    .option('--backend <name>', 'backend to check (default: env CLUSTERKV_BACKEND, else first that loads)')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { backend?: string; json?: boolean }) => {
      const report = await runParity(flags.backend ?? process.env.CLUSTERKV_BACKEND ?? '', 'cpu');
      if (flags.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(formatTable(report.checks as unknown as Record<string, unknown>[], ['output', 'kind', 'length', 'worst', 'pass'], 8));
        console.log(`\n${report.target} vs ${report.reference}: ${report.pass ? 'PASS' : 'FAIL'} (${report.checks.filter((c) => c.pass).length}/${report.checks.length} outputs, ${report.leakedTensors} tensors leaked)`);
      }
      if (!report.pass) throw new UserError(`parity failed on ${report.target}`);
    });
}
