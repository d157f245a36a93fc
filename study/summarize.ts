/**
 * Reads the study's results folders (runs/study by default) with arquero and writes the generated tables of
 * study/README.md: every `<!-- BEGIN name -->...<!-- END name -->` block of the README is replaced by the
 * table `name` below; the text around them is hand-written. Also writes study/tables.md (all tables).
 *
 *   npx tsx study/summarize.ts [RUNS_DIR] [README]
 *
 * Sparse layers only: every budgeted method keeps the first `denseLayers` layers dense (the column of that
 * name; 2 in every sweep here), so all means below are over layers >= denseLayers, for every method (full
 * included), unless a table says otherwise.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { fmt, markdown, writeTables } from './markdown.js';
import { csvTable } from '../src/sim/csv-table.js';
import { CLUSTERKV_DEFAULTS, promptClustering } from '../src/sim/methods/clusterkv/plan.js';
import { METHODS as REGISTRY } from '../src/sim/methods/index.js';
import { infllm } from '../src/sim/methods/infllm.js';
import { quest } from '../src/sim/methods/quest.js';

const runs = process.argv[2] ?? 'runs/study';
const readme = process.argv[3] ?? 'study/README.md';
const TRACES = ['ckv-moby-8k', 'ckv-moby-16k', 's260k-moby-2k', 'synth-8k', 'synth-16k'];
/** every budgeted method of the registry, in its order (the study's sweeps run --methods all) */
const METHODS = REGISTRY.filter((m) => m.budgeted).map((m) => m.name);
/** ClusterKV's rivals: the other budgeted methods but the oracle (the ceiling) and random (the floor) */
const RIVALS = METHODS.filter((m) => !['clusterkv', 'oracle', 'random'].includes(m));
const BUDGETS = [256, 512, 1024, 2048];
/**
 * average unit sizes in tokens at the methods' declared defaults (cachesim runs them at their defaults), for
 * the LRU/Belady capacity of ~2B tokens (as study/run.sh chose it)
 */
const UNIT_TOKENS: Record<string, number> = { clusterkv: CLUSTERKV_DEFAULTS.tokensPerCluster, quest: quest.params.pageSize.default!, infllm: infllm.params.blockSize.default! };
/** the methods with cache units that study/run.sh simulates */
const CACHE_METHODS = Object.keys(UNIT_TOKENS);

type Row = Record<string, unknown>;
const tables: Record<string, string> = {};

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

interface Sweep {
  name: string;
  table: aq.ColumnTable; // sparse layers only
  all: aq.ColumnTable; // every layer
  manifest: Row & { trace: { prefillLength: number; contextLength: number; steps: number; model: Row; source: Row }; seconds?: number; status: string; spec: Row };
  denseLayers: number;
  defaultClusters: number;
}

function loadSweep(name: string): Sweep | undefined {
  const dir = path.join(runs, 'sweeps', name);
  const manifest = readJson<Sweep['manifest']>(path.join(dir, 'manifest.json'));
  if (!manifest || !existsSync(path.join(dir, 'results.arrow'))) return undefined;
  // the Arrow file keeps column types (CSV type inference samples the first rows, which are full's, with empty
  // denseLayers / clusters / budget columns)
  const all = aq.fromArrow(readFileSync(path.join(dir, 'results.arrow')));
  const dl = all.filter('d => d.denseLayers != null').rollup({ lo: aq.op.min('denseLayers'), hi: aq.op.max('denseLayers') }).object() as { lo: number; hi: number };
  if (dl.lo !== dl.hi) throw new Error(`${name}: methods differ in denseLayers (${dl.lo}..${dl.hi}); the tables assume one value`);
  const denseLayers = dl.lo;
  const table = all.params({ dl: denseLayers }).filter((d: Row, $: { dl: number }) => (d.layer as number) >= $.dl);
  // ClusterKV's default C0 (its plan: the prompt tokens after the sinks over the default tokens per cluster)
  const defaultClusters = promptClustering(CLUSTERKV_DEFAULTS, manifest.trace.prefillLength).clusters;
  return { name, table, all, manifest, denseLayers, defaultClusters };
}

const sweeps = TRACES.map(loadSweep).filter((s): s is Sweep => s !== undefined);

/** mean of a metric per (method, clusters, budget) over sparse layers, heads, steps */
function means(s: Sweep, metric: string, extraKeys: string[] = []): Map<string, number> {
  const out = new Map<string, number>();
  const t = s.table.groupby('method', 'clusters', 'budget', ...extraKeys).rollup({ v: aq.op.mean(metric) });
  for (const r of t.objects() as Row[]) out.set(key(r.method, r.clusters, r.budget, ...extraKeys.map((k) => r[k])), r.v as number);
  return out;
}
/** METHODS (or `among`) that have rows in the sweep */
function present(s: Sweep, among: readonly string[] = METHODS): string[] {
  const inSweep = new Set((s.all.rollup({ m: aq.op.array_agg_distinct('method') }).object() as { m: string[] }).m);
  return among.filter((m) => inSweep.has(m));
}
function key(...parts: unknown[]): string {
  return parts.map((p) => (p === undefined || p === null ? '' : String(p))).join('|');
}
/** clusters value of a method's rows: ClusterKV at its default (L/80) count, others none */
function cOf(s: Sweep, method: string): number | '' {
  return method === 'clusterkv' ? s.defaultClusters : '';
}

// ---------- setup: traces ----------
{
  const rows = sweeps.map((s) => {
    const t = s.manifest.trace;
    const m = t.model as { layers: number; heads: number; kvHeads: number; headDim: number };
    const cl = (s.manifest.spec.clusters as number[]).join(', ');
    return [s.name, t.source.name, m.layers, `${m.heads}/${m.kvHeads}/${m.headDim}`, t.prefillLength, t.steps, cl, `${s.denseLayers} (sparse: ${s.denseLayers}..${m.layers - 1})`, s.all.numRows(), s.manifest.seconds === undefined ? '-' : `${Math.round(s.manifest.seconds)} s`];
  });
  tables.traces = markdown(['trace', 'source', 'layers', 'H/G/d', 'prefill L', 'decode steps', 'ClusterKV C0 (L/160, L/80, L/40)', 'dense layers', 'result rows', 'sweep time'], rows);
}

// ---------- main: mass recall per method x budget per trace ----------
{
  const parts: string[] = [];
  for (const s of sweeps) {
    const mr = means(s, 'massRecall');
    const methods = present(s);
    const rows = methods.map((m) => [m === 'clusterkv' ? `clusterkv (C0=${s.defaultClusters})` : m, ...BUDGETS.map((b) => mr.get(key(m, cOf(s, m), b)))]);
    // best non-oracle method per budget
    const best = BUDGETS.map((b) => {
      const ranked = methods.filter((x) => x !== 'oracle').map((m) => ({ m, v: mr.get(key(m, cOf(s, m), b)) ?? -1 })).sort((x, y) => y.v - x.v);
      const tied = ranked.filter((r) => ranked[0].v - r.v < 5e-4).map((r) => r.m);
      return tied.length > 1 ? `tie: ${tied.length === ranked.length ? 'all' : tied.join(', ')}` : ranked[0].m;
    });
    rows.push(['best non-oracle', ...best]);
    parts.push(`**${s.name}** (prefill ${s.manifest.trace.prefillLength}, layers ${s.denseLayers}..${(s.manifest.trace.model as { layers: number }).layers - 1})\n\n` + markdown(['method', ...BUDGETS.map((b) => `B=${b}`)], rows));
  }
  tables.recall = parts.join('\n\n');
}

// ---------- clusterkv per cluster count ----------
{
  const parts: string[] = [];
  for (const s of sweeps) {
    const mr = means(s, 'massRecall');
    const counts = (s.manifest.spec.clusters as number[]) ?? [];
    const labels = ['L/160', 'L/80', 'L/40'];
    const rows: unknown[][] = counts.map((c, i) => [`clusterkv C0=${c} (${labels[i] ?? ''})`, ...BUDGETS.map((b) => mr.get(key('clusterkv', c, b)))]);
    rows.push(['oracle', ...BUDGETS.map((b) => mr.get(key('oracle', '', b)))]);
    rows.push(['quest', ...BUDGETS.map((b) => mr.get(key('quest', '', b)))]);
    parts.push(`**${s.name}**\n\n` + markdown(['method', ...BUDGETS.map((b) => `B=${b}`)], rows));
  }
  tables.clusters = parts.join('\n\n');
}

/** per (head, step) mass recall of a method at budget b in layer l (ClusterKV at its default count) */
function perCase(s: Sweep, method: string, b: number, l: number): Map<string, number> {
  const c = cOf(s, method);
  const t = s.table
    .params({ m: method, b, l, c: c === '' ? null : c })
    .filter((d: Row, $: Row) => d.method === $.m && d.budget === $.b && d.layer === $.l && ($.c === null || d.clusters === $.c))
    .select('head', 'step', 'massRecall');
  return new Map((t.objects() as Row[]).map((r) => [key(r.head, r.step), r.massRecall as number]));
}
/** share of (head, step) cases of layer l where ClusterKV keeps less mass than the rival */
function loseShare(s: Sweep, b: number, l: number, rival: string): number {
  const ck = perCase(s, 'clusterkv', b, l), rv = perCase(s, rival, b, l);
  let n = 0, lose = 0;
  for (const [k, v] of ck) {
    const r = rv.get(k);
    if (r === undefined) continue;
    n++;
    if (v < r) lose++;
  }
  return lose / n;
}

// ---------- per layer: where ClusterKV loses ----------
{
  const parts: string[] = [];
  for (const s of sweeps) {
    const mr = means(s, 'massRecall', ['layer']);
    const rivals = present(s, RIVALS);
    const layers = (s.table.rollup({ l: aq.op.array_agg_distinct('layer') }).object() as { l: number[] }).l.sort((a, b) => a - b);
    const rows: unknown[][] = [];
    for (const b of [256, 1024]) {
      for (const l of layers) {
        const v = (m: string) => mr.get(key(m, cOf(s, m), b, l));
        const ck = v('clusterkv')!;
        const bestRival = rivals.reduce((a, m) => ((v(m) ?? -1) > (v(a) ?? -1) ? m : a), rivals[0]);
        const share = (rival: string) => loseShare(s, b, l, rival);
        rows.push([b, l, v('oracle'), ck, ...rivals.map(v), `${bestRival} ${fmt((v(bestRival) ?? 0) - ck)}`, share('quest'), share('h2o'), share('infllm')]);
      }
    }
    parts.push(`**${s.name}**\n\n` + markdown(['B', 'layer', 'oracle', `clusterkv (C0=${s.defaultClusters})`, ...rivals, 'best rival, minus clusterkv', 'share of (head, step) clusterkv < quest', '< h2o', '< infllm'], rows));
  }
  tables.layers = parts.join('\n\n');
}

// ---------- head-to-head: share of (layer, head, step) where clusterkv keeps more mass ----------
{
  const rows: unknown[][] = [];
  for (const s of sweeps) {
    for (const b of BUDGETS) {
      const pick = (m: string) => {
        const c = cOf(s, m);
        return s.table
          .params({ m, b, c: c === '' ? null : c })
          .filter((d: Row, $: Row) => d.method === $.m && d.budget === $.b && ($.c === null || d.clusters === $.c))
          .select('layer', 'head', 'step', 'massRecall')
          .rename({ massRecall: m });
      };
      // joined on (layer, head, step) in plain JS
      const byKey = (m: string) => new Map((pick(m).objects() as Row[]).map((r) => [key(r.layer, r.head, r.step), r[m] as number]));
      const ck = byKey('clusterkv'), qu = byKey('quest'), il = byKey('infllm'), hh = byKey('h2o'), or = byKey('oracle');
      let n = 0, wq = 0, wi = 0, wh = 0, gap = 0, gapMax = -Infinity;
      for (const [k, v] of ck) {
        const q = qu.get(k), i = il.get(k), h = hh.get(k), o = or.get(k);
        if (q === undefined || i === undefined || h === undefined || o === undefined) continue;
        n++; if (v > q) wq++; if (v > i) wi++; if (v > h) wh++; gap += o - v; gapMax = Math.max(gapMax, o - v);
      }
      const r = { n, wq: wq / n, wi: wi / n, wh: wh / n, gap: gap / n, gapMax };
      rows.push([s.name, b, r.n, r.wq, r.wi, r.wh, r.gap, r.gapMax]);
    }
  }
  tables.headtohead = markdown(['trace', 'B', '(layer, head, step) cases', 'share clusterkv > quest', 'share clusterkv > infllm', 'share clusterkv > h2o', 'mean oracle - clusterkv', 'max oracle - clusterkv'], rows);
}

// ---------- tokens actually attended / loaded, and other fidelity metrics ----------
{
  const rows: unknown[][] = [];
  for (const s of sweeps) {
    for (const b of [256, 2048]) {
      for (const m of present(s).filter((x) => x !== 'random')) {
        const c = cOf(s, m);
        const r = s.table
          .params({ m, b, c: c === '' ? null : c })
          .filter((d: Row, $: Row) => d.method === $.m && d.budget === $.b && ($.c === null || d.clusters === $.c))
          .rollup({
            att: aq.op.mean('tokensAttended'), loaded: aq.op.mean('tokensLoaded'), density: aq.op.mean('density'),
            topk: aq.op.mean('topkRecall'), errMed: aq.op.median('outputRelError'), cos: aq.op.mean('outputCosine'), touched: aq.op.mean('clustersTouched'),
          })
          .object() as Row;
        rows.push([s.name, b, m, r.att, r.loaded, r.density, r.topk, r.errMed, r.cos, m === 'clusterkv' ? r.touched : null]);
      }
    }
  }
  tables.tokens = markdown(['trace', 'B', 'method', 'tokens attended / query head', 'tokens loaded / KV head (union over its query heads)', 'density', 'top-k recall', 'median output rel. error', 'mean output cosine', 'clusters touched / query head'], rows, 3);
}

// ---------- cache hit rates ----------
{
  const rows: unknown[][] = [];
  const capOf = (m: string, b: number, f: number) => (m === 'clusterkv' ? Math.ceil((f * b) / UNIT_TOKENS[m]) : Math.floor((f * b) / UNIT_TOKENS[m]));
  for (const name of TRACES) {
    for (const b of BUDGETS) {
      const file = path.join(runs, 'cachesim', `${name}-b${b}`, 'cachesim.csv');
      if (!existsSync(file)) continue;
      const t = csvTable(readFileSync(file, 'utf8'));
      for (const m of CACHE_METHODS) {
        // warm steps only (step > 0): the first step loads everything under every policy
        const stat = (pol: string) => t
          .params({ m, pol })
          .filter((d: Row, $: Row) => d.method === $.m && d.policy === $.pol && (d.tokensSelected as number) > 0 && (d.step as number) > 0)
          .rollup({ sel: aq.op.sum('tokensSelected'), hit: aq.op.sum('tokensHit'), bytes: aq.op.sum('bytesMoved'), steps: aq.op.distinct('step'), units: aq.op.mean('unitsSelected'), kind: aq.op.any('unitKind') })
          .object() as Row;
        const last = stat('last-r:1');
        const out: unknown[] = [name, b, m, `${last.kind}`, last.units, (last.hit as number) / (last.sel as number), (last.bytes as number) / (last.steps as number) / 1e6];
        for (const f of [2, 8]) {
          const cap = capOf(m, b, f);
          const l = stat(`lru:${cap}`), o = stat(`belady:${cap}`);
          out.push(cap, (l.hit as number) / (l.sel as number), (l.bytes as number) / (l.steps as number) / 1e6, (o.hit as number) / (o.sel as number));
        }
        rows.push(out);
      }
    }
  }
  tables.cache = markdown(
    ['trace', 'B', 'method', 'unit', 'units / KV head / step', 'hit last-r:1', 'MB/step last-r:1', 'cap 2B (units)', 'hit LRU 2B', 'MB/step LRU 2B', 'hit Belady 2B', 'cap 8B (units)', 'hit LRU 8B', 'MB/step LRU 8B', 'hit Belady 8B'],
    rows,
  );
}

// ---------- ClusterKV's own cache accounting in the sweep (last R=1 step) ----------
{
  const rows: unknown[][] = [];
  for (const s of sweeps) {
    const r = s.table
      .params({ c: s.defaultClusters })
      .filter((d: Row, $: Row) => d.method === 'clusterkv' && d.clusters === $.c && (d.step as number) > 0)
      .groupby('budget')
      .rollup({ hit: aq.op.mean('cacheHitRate'), bytes: aq.op.mean('bytesMovedHostToGpu'), cut: aq.op.mean('lastClusterCutShare') })
      .orderby('budget')
      .objects() as Row[];
    const nSparse = (s.manifest.trace.model as { layers: number }).layers - s.denseLayers;
    for (const x of r) rows.push([s.name, x.budget, x.hit, (x.bytes as number) / 1e3, ((x.bytes as number) * nSparse) / 1e3, x.cut]);
  }
  tables.sweepcache = markdown(['trace', 'B', 'cacheHitRate (unweighted mean over layers and steps > 0)', 'KB moved per layer-step (both KV heads)', 'KB moved per step (all sparse layers)', 'lastClusterCutShare'], rows);
}

// ---------- issue 4 ----------
function timeFile(name: string): { wall: string; rssMB: number } | undefined {
  const file = path.join(runs, 'logs', `${name}.time`);
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(text)?.[1] ?? '-';
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? NaN);
  return { wall, rssMB: rss / 1024 };
}
{
  const rows: unknown[][] = [];
  for (const f of readdirSync(path.join(runs, 'logs')).filter((f) => f.endsWith('.time')).sort()) {
    const n = f.replace(/\.time$/, '');
    const t = timeFile(n)!;
    rows.push([n, t.wall, Math.round(t.rssMB)]);
  }
  tables.runtimes = markdown(['step (runs/study/logs/NAME.time)', 'wall (m:ss)', 'max RSS (MB)'], rows);
}
{
  const s = sweeps.find((x) => x.name === 'ckv-moby-16k');
  const t = timeFile('capture-ckv-moby-16k');
  const file = path.join(runs, 'traces', 'ckv-moby-16k.safetensors');
  const size = existsSync(file) ? readFileSync(file).byteLength : NaN;
  const solo = timeFile('capture-ckv-moby-16k-solo');
  let text = `capture: file ${(size / 1e6).toFixed(1)} MB (${size} bytes); wall ${t?.wall ?? '-'} and max RSS ${t ? Math.round(t.rssMB) : '-'} MB in study/run.sh (next to the 8K capture)`;
  if (solo) text += `; re-run alone: wall ${solo.wall}, max RSS ${Math.round(solo.rssMB)} MB, byte-identical file (same sha256)`;
  text += '\n\n';
  if (s) {
    const mr = means(s, 'massRecall');
    const mrAll = new Map<string, number>();
    for (const r of s.all.groupby('method', 'clusters', 'budget').rollup({ v: aq.op.mean('massRecall') }).objects() as Row[]) mrAll.set(key(r.method, r.clusters, r.budget), r.v as number);
    const rows = [256, 1024, 2048].map((b) => [b, mr.get(key('clusterkv', s.defaultClusters, b)), mr.get(key('oracle', '', b)), mrAll.get(key('clusterkv', s.defaultClusters, b)), mrAll.get(key('oracle', '', b))]);
    text += markdown(['B', `clusterkv C0=${s.defaultClusters}, layers 2-5`, 'oracle, layers 2-5', 'clusterkv, all 6 layers (0-1 dense = 1.0)', 'oracle, all 6 layers'], rows);
  }
  tables.issue4a = text;
}
{
  const v = readJson<{ backend: string; results: { trace: string; dtype: string; maxRelError: number; layers: { layer: number; maxRelError: number }[] }[] }>(path.join(runs, 'verify.json'));
  let text = v
    ? markdown(['trace', 'dtype', 'max rel. error, recomputed dense vs stored outputs', 'per layer'], v.results.map((r) => [path.basename(r.trace), r.dtype, r.maxRelError.toExponential(2), r.layers.map((l) => l.maxRelError.toExponential(1)).join(', ')]))
    : '(verify.json missing)';
  const s = sweeps.find((x) => x.name === 's260k-moby-2k');
  if (s) {
    const mr = means(s, 'massRecall');
    const tk = means(s, 'topkRecall');
    const counts = s.manifest.spec.clusters as number[];
    const rows = BUDGETS.map((b) => [b, ...counts.map((c) => mr.get(key('clusterkv', c, b))), mr.get(key('oracle', '', b)), tk.get(key('clusterkv', s.defaultClusters, b)), tk.get(key('oracle', '', b))]);
    text += '\n\n' + markdown(['B', ...counts.map((c) => `clusterkv C0=${c} mass`), 'oracle mass', `clusterkv C0=${s.defaultClusters} top-k recall`, 'oracle top-k recall'], rows);
  }
  tables.issue4b = text;
}
{
  const lines: string[] = [];
  for (const n of ['generate-clusterkv-b256', 'perplexity-clusterkv-b256', 'perplexity-oracle-b256', 'perplexity-quest-b256']) {
    const file = path.join(runs, 'logs', `${n}.log`);
    if (!existsSync(file)) continue;
    const keep = readFileSync(file, 'utf8').split('\n').filter((l) => /KL|perplexity|tokens,|\(\d+\.\d s\)/.test(l) && !l.startsWith('step '));
    // the method's full parameter JSON is long: keep its name and budget only
    lines.push(`${n}:`, ...keep.map((l) => `  ${l.replace(/ \{[^}]*"budget":(\d+)[^}]*\}/, ' (defaults, budget $1)')}`));
  }
  tables.issue4c = '```\n' + lines.join('\n') + '\n```';
}

// ---------- write ----------
console.log(writeTables(tables, readme, 'tables.md', '', 'study/summarize.ts', runs));
