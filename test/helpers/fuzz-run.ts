/**
 * The fuzzers' parent side: runs a list of `clusterkv` argvs through the child runner (fuzz-runner.ts) in
 * process there, restarting it after a hang (no report line for HANG_MS: killed) or a crash (it died), and
 * checks every result: exit 0, or exit 1 whose one error line `clusterkv: ...` is the last line of stderr
 * (warnings `clusterkv: warning: ...` and progress lines may come before it); no stack trace.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

export interface FuzzRun {
  name: string;
  argv: string[];
}

export interface RunResult {
  index: number;
  /** exit code of runCli; 'hang' or 'crash' (the child died) otherwise */
  code: number | 'hang' | 'crash';
  stderr: string;
  ms?: number;
}

/** Runs every run through the child runner (its runs file written to `runsFile`). */
export async function runFuzz(runs: FuzzRun[], runsFile: string, hangMs: number): Promise<RunResult[]> {
  writeFileSync(runsFile, JSON.stringify(runs));
  const results: RunResult[] = [];
  let next = 0;
  while (next < runs.length) {
    const { lastStart, ended, died } = await new Promise<{ lastStart?: number; ended: boolean; died: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'helpers', 'fuzz-runner.ts'), runsFile, String(next)], { cwd: root });
      let buffered = '';
      let errText = '';
      let lastStart: number | undefined;
      let ended = false;
      let timer = setTimeout(() => child.kill('SIGKILL'), hangMs);
      child.stdout.on('data', (chunk: Buffer) => {
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), hangMs);
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const event = JSON.parse(line);
          if (event.event === 'start') lastStart = event.run;
          else if (event.event === 'done') {
            results.push({ index: event.run, code: event.code, stderr: event.stderr, ms: event.ms });
            lastStart = undefined;
          } else if (event.event === 'end') ended = true;
        }
      });
      child.stderr.on('data', (chunk: Buffer) => {
        errText += chunk.toString();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ lastStart, ended, died: `exit ${code} ${signal ?? ''} ${errText}` });
      });
    });
    if (ended) break;
    if (lastStart === undefined) throw new Error(`fuzz runner stopped between runs: ${died}`);
    // the run that started and never reported: a hang (killed by the watchdog) or a crash
    results.push({ index: lastStart, code: died.includes('SIGKILL') ? 'hang' : 'crash', stderr: died });
    next = lastStart + 1;
  }
  return results;
}

/** The results that break the rules, by kind, and the counts the fuzzers report. */
export function judge(results: RunResult[]) {
  const hangs = results.filter((r) => r.code === 'hang');
  const crashes = results.filter((r) => r.code === 'crash' || (typeof r.code === 'number' && r.code !== 0 && r.code !== 1));
  const stacks = results.filter((r) => /\n\s+at |internal error/.test(r.stderr));
  const errorLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('clusterkv: ') && !l.startsWith('clusterkv: warning: '));
  const notOneLine = results.filter((r) => r.code === 1 && (errorLines(r).length !== 1 || !r.stderr.endsWith(`${errorLines(r)[0]}\n`)));
  const rejected = results.filter((r) => r.code === 1).length;
  const accepted = results.filter((r) => r.code === 0).length;
  const warned = results.filter((r) => r.stderr.includes('clusterkv: warning: ')).length;
  return { hangs, crashes, stacks, notOneLine, rejected, accepted, warned };
}
