/**
 * Merges `clusterkv generate --json` reports of one configuration made in separate fresh processes (the
 * engine's prefill and decode speed on a real model) into one JSON: per file group (mode), prefill and
 * decode tokens/s and ms per token over the processes (median and each process's value), and the card.
 *   tsx bench/engine-speed.ts OUT.json --card NAME MODE=RUN.json[,RUN.json...] ...
 * e.g. dense=run-dense-1.json,run-dense-2.json,run-dense-3.json clusterkv=run-ckv-1.json,...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { overProcesses } from '../src/sim/bench/timing.js';

const args = process.argv.slice(2);
const out = args.shift();
let card = 'unknown';
const groups: [string, string[]][] = [];
while (args.length) {
  const a = args.shift()!;
  if (a === '--card') card = args.shift() ?? card;
  else {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`expected MODE=RUN.json[,RUN.json...], got '${a}'`);
    groups.push([a.slice(0, eq), a.slice(eq + 1).split(',').filter(Boolean)]);
  }
}
if (!out || groups.length === 0) {
  console.error('usage: tsx bench/engine-speed.ts OUT.json --card NAME MODE=RUN.json[,RUN.json...] ...');
  process.exit(1);
}
interface GenerateJson { attention: string; backend: string; runtime: string; weights?: string; kv?: string; promptTokens: number; ids: number[]; prefillTokensPerSecond: number; decodeTokensPerSecond: number | null; msPerToken: number | null; clusterSeconds?: number }
const modes = groups.map(([mode, files]) => {
  const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as GenerateJson);
  const first = runs[0];
  const same = runs.every((r) => JSON.stringify(r.ids) === JSON.stringify(first.ids));
  const pick = (k: 'prefillTokensPerSecond' | 'decodeTokensPerSecond' | 'msPerToken') => overProcesses(runs.map((r) => r[k] ?? NaN));
  return {
    mode,
    attention: first.attention,
    runtime: first.runtime,
    weights: first.weights ?? null,
    kv: first.kv ?? null,
    promptTokens: first.promptTokens,
    decodedTokens: first.ids.length,
    sameIdsInEveryProcess: same,
    prefillTokensPerSecond: pick('prefillTokensPerSecond'),
    decodeTokensPerSecond: pick('decodeTokensPerSecond'),
    msPerToken: pick('msPerToken'),
    clusterSeconds: overProcesses(runs.map((r) => r.clusterSeconds ?? 0)),
  };
});
writeFileSync(out, `${JSON.stringify({ kind: 'clusterkv-engine-speed', created: new Date().toISOString(), card, modes }, null, 2)}\n`);
for (const m of modes) {
  console.log(`${m.mode} (${m.runtime}, ${m.kv} KV): prompt ${m.promptTokens}, prefill ${m.prefillTokensPerSecond.median.toFixed(0)} tok/s, decode ${m.decodeTokensPerSecond.median.toFixed(1)} tok/s (${m.msPerToken.median.toFixed(3)} ms/token) over ${m.msPerToken.processes.length} processes [${m.decodeTokensPerSecond.processes.map((x) => x.toFixed(1)).join(', ')}]${m.sameIdsInEveryProcess ? '' : '; the processes generated different ids'} on ${card}`);
}
