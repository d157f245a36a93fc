/**
 * The passkey study's tables (issue 14): reads the folders study/passkey.sh writes (runs/study/passkey by
 * default) and replaces every `<!-- BEGIN passkey-NAME -->...<!-- END passkey-NAME -->` block of
 * study/README.md with the table NAME below (the text around them is hand-written from these tables). Also
 * writes study/passkey-tables.md (every table).
 *
 *   npx tsx study/passkey-summary.ts [RUNS_DIR] [README]
 *
 * Recall columns are over the sparse layers (2..5) and the six answer steps decoded by the method, pooled over
 * query heads (src/model/passkey/needle-recall.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { fmt, markdown, writeTables } from './markdown.js';
import { readEvalManifest, readPasskeyEvalFolder, type PasskeyEvalFolder } from '../src/model/passkey/eval-folder.js';
import { passkeyVariantColumns } from '../src/model/passkey/summary.js';
import { METHODS } from '../src/sim/methods/index.js';
import { readSweepFolder } from '../src/sim/results-folder.js';
import { sparseLayerRows } from '../src/sim/sparse-layers.js';

const runs = process.argv[2] ?? 'runs/study/passkey';
const readme = process.argv[3] ?? 'study/README.md';
/** the registry's order of methods: rows and columns follow it */
const METHOD_ORDER = METHODS.map((m) => m.name);
const tables: Record<string, string> = {};
type Row = Record<string, unknown>;

/** A folder's finished rows, also while a later run into it is still going (rows as of its last finished run). */
function load(name: string): PasskeyEvalFolder | undefined {
  const dir = path.join(runs, name);
  if (!readEvalManifest(dir) || !existsSync(path.join(dir, 'results.arrow'))) return undefined;
  return readPasskeyEvalFolder(dir, { allowUnfinished: true });
}

/** 'clusterkv tpc=20 bound' style labels: the method, and the parameters that vary in the table (passkeyVariantColumns). */
function variant(r: Row, varying: string[]): string {
  const parts = [String(r.method)];
  for (const c of varying) {
    const v = r[c];
    if (v === null || v === undefined || v === '') continue;
    parts.push(c === 'tokensPerCluster' ? `tpc=${v}` : c === 'scoring' ? String(v) : `${c}=${v}`);
  }
  return parts.join(' ');
}

function labelled(table: aq.ColumnTable): Row[] {
  const varying = passkeyVariantColumns(table).slice(1);
  return (table.objects() as Row[]).map((r) => ({ ...r, variant: variant(r, varying) }));
}

function variantOrder(a: string, b: string): number {
  const [ma, mb] = [a.split(' ')[0], b.split(' ')[0]];
  const d = METHOD_ORDER.indexOf(ma) - METHOD_ORDER.indexOf(mb);
  if (d !== 0) return d;
  const tpc = (s: string) => Number(/tpc=(\d+)/.exec(s)?.[1] ?? 0);
  return tpc(b) - tpc(a) || a.localeCompare(b);
}

/** mean of `metric` per variant x budget, as rows variant | B=.. columns; full (no budget) in every column. */
function pivot(rows: Row[], metric: string, budgets: number[]): unknown[][] {
  const cell = new Map<string, { sum: number; n: number }>();
  for (const r of rows) {
    const k = `${r.variant}|${r.budget ?? 'dense'}`;
    const c = cell.get(k) ?? { sum: 0, n: 0 };
    c.sum += Number(r[metric]);
    c.n++;
    cell.set(k, c);
  }
  const variants = [...new Set(rows.map((r) => String(r.variant)))].sort(variantOrder);
  return variants.map((v) => [v, ...budgets.map((b) => {
    const c = cell.get(`${v}|${v.startsWith('full') ? 'dense' : b}`);
    return c ? c.sum / c.n : null;
  })]);
}

function budgetsOf(rows: Row[]): number[] {
  return [...new Set(rows.map((r) => r.budget).filter((b) => b !== null && b !== undefined).map(Number))].sort((a, b) => a - b);
}

function seconds(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  // /usr/bin/time -v -a appends one block per run: sum the wall clocks
  let total = 0;
  for (const m of readFileSync(file, 'utf8').matchAll(/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/g)) total += Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return total;
}

function hms(s: number | undefined): string {
  if (s === undefined) return '-';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

// ---------- the grid that ran ----------
const methods = load('methods');
const scoring = load('scoring');
{
  const rows: unknown[][] = [];
  for (const [name, f] of [['methods', methods], ['scoring', scoring]] as const) {
    if (!f) continue;
    const t = labelled(f.table);
    const docs = new Set(t.map((r) => String(r.document)));
    const contexts = [...new Set(t.map((r) => Number(r.context)))].sort((a, b) => a - b);
    const perContext = contexts.map((c) => {
      const ds = [...docs].filter((d) => d.startsWith(`c${c}-`));
      const keys = new Set(ds.map((d) => d.split('-k')[1]));
      const depths = new Set(ds.map((d) => d.split('-d')[1].split('-k')[0]));
      return `${c}: ${depths.size} depths x ${keys.size} keys`;
    });
    const full = t.filter((r) => r.method === 'full');
    const misses = full.filter((r) => Number(r.correct) !== 1).map((r) => `${r.document} (said ${JSON.stringify(r.generated)}, key ${r.key})`);
    const logs = existsSync(path.join(runs, 'logs')) ? readdirSync(path.join(runs, 'logs')).filter((l) => l.startsWith(`${name}-`) && l.endsWith('.time')) : [];
    const wall = logs.reduce((a, l) => a + (seconds(path.join(runs, 'logs', l)) ?? 0), 0);
    rows.push([name, perContext.join('; '), docs.size, new Set(t.map((r) => String(r.cell))).size, t.length,
      full.length ? `${(full.filter((r) => Number(r.correct) === 1).length / full.length).toFixed(3)}${misses.length ? `; misses: ${misses.join(', ')}` : ' (no miss)'}` : '-', hms(wall), f.manifest.status]);
  }
  tables.grid = markdown(['folder', 'documents per context', 'documents', 'cells', 'rows', 'dense accuracy', 'wall (h:mm:ss)', 'status'], rows);
}

// ---------- accuracy per method and budget ----------
if (methods) {
  const t = labelled(methods.table);
  const budgets = budgetsOf(t);
  const header = ['method', ...budgets.map((b) => `B=${b}`)];
  const contexts = [...new Set(t.map((r) => Number(r.context)))].sort((a, b) => a - b);
  const parts: string[] = [];
  for (const c of contexts) {
    const sub = t.filter((r) => Number(r.context) === c);
    parts.push(`**context ${c}** (${new Set(sub.map((r) => r.document)).size} documents; full is dense attention, no budget)\n\n${markdown(header, pivot(sub, 'correct', budgets))}`);
  }
  parts.push(`**all contexts** (${new Set(t.map((r) => r.document)).size} documents)\n\n${markdown(header, pivot(t, 'correct', budgets))}`);
  const inner = t.filter((r) => Number(r.depth) < 1);
  parts.push(`**all contexts, depths below 1** (${new Set(inner.map((r) => r.document)).size} documents: where dense attention answers every document; depth 1 puts the needle right before the question)\n\n${markdown(header, pivot(inner, 'correct', budgets))}`);
  tables.accuracy = parts.join('\n\n');
  tables.digits = markdown(header, pivot(t.filter((r) => Number(r.correct) !== 1 || r.method === 'full'), 'digitsCorrect', budgets));
  tables.recall = `**key mass recall** (share of the dense attention on the key digits that the selection kept)\n\n${markdown(header, pivot(t, 'keyMassRecall', budgets))}` +
    `\n\n**needle coverage** (share of the needle's tokens selected, mean over heads, layers and steps)\n\n${markdown(header, pivot(t, 'needleCoverage', budgets))}` +
    `\n\n**mass recall** (share of all dense attention kept)\n\n${markdown(header, pivot(t, 'massRecall', budgets))}`;

  // where ClusterKV loses: depth x method at two budgets, over every context
  const depths = [...new Set(t.map((r) => Number(r.depth)))].sort((a, b) => a - b);
  const byDepth: string[] = [];
  for (const b of [64, 256].filter((x) => budgets.includes(x))) {
    const sub = t.filter((r) => Number(r.budget) === b || r.method === 'full');
    const variants = [...new Set(sub.map((r) => String(r.variant)))].sort(variantOrder);
    const rows = depths.map((d) => [d, ...variants.map((v) => {
      const xs = sub.filter((r) => r.variant === v && Number(r.depth) === d);
      return xs.length ? xs.reduce((a, r) => a + Number(r.correct), 0) / xs.length : null;
    })]);
    byDepth.push(`**B = ${b}** (accuracy by needle depth, every context)\n\n${markdown(['depth', ...variants], rows)}`);
  }
  tables.depth = byDepth.join('\n\n');

  // which digits go wrong: the share of answers with the i-th key digit right, at two budgets
  {
    const parts: string[] = [];
    for (const b of [64, 256].filter((x) => budgets.includes(x))) {
      const sub = t.filter((r) => Number(r.budget) === b || r.method === 'full');
      const variants = [...new Set(sub.map((r) => String(r.variant)))].sort(variantOrder);
      const rows = variants.map((v) => {
        const xs = sub.filter((r) => r.variant === v);
        return [v, ...[0, 1, 2, 3, 4].map((i) => xs.filter((r) => String(r.generated).replace(/\D/g, '')[i] === String(r.key)[i]).length / xs.length)];
      });
      parts.push(`**B = ${b}** (share of answers whose i-th digit equals the key's; every context)\n\n${markdown(['method', 'digit 1', 'digit 2', 'digit 3', 'digit 4', 'digit 5'], rows)}`);
    }
    tables.position = parts.join('\n\n');
  }

  // accuracy follows needle recall: every budgeted document-cell, binned by key mass recall
  const budgeted = t.filter((r) => r.budget !== null && r.budget !== undefined && r.keyMassRecall !== null);
  const edges = [0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0001];
  const binRows = edges.slice(0, -1).map((lo, i) => {
    const xs = budgeted.filter((r) => Number(r.keyMassRecall) >= lo && Number(r.keyMassRecall) < edges[i + 1]);
    const methodsIn = [...new Set(xs.map((r) => String(r.method)))].sort((a, b) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b));
    return [`[${lo}, ${Math.min(1, edges[i + 1])}${i === edges.length - 2 ? ']' : ')'}`, xs.length, xs.length ? xs.reduce((a, r) => a + Number(r.correct), 0) / xs.length : null, xs.length ? xs.reduce((a, r) => a + Number(r.digitsCorrect), 0) / xs.length : null, methodsIn.join(', ')];
  });
  tables.bins = markdown(['key mass recall', 'document-cells', 'accuracy', 'digits right', 'methods present'], binRows);

  // which layer reads the key: dense attention on the key digits per layer, and what each method keeps there
  if (methods.steps) {
    const steps = methods.steps.objects() as Row[];
    const layers = [...new Set(steps.map((s) => Number(s.layer)))].sort((a, b) => a - b);
    const b = budgets.includes(64) ? 64 : budgets[0];
    // the methods the steps have, full aside (its columns come first: the dense attention itself)
    const shown = METHOD_ORDER.filter((m) => m !== 'full' && steps.some((st) => st.method === m));
    const rows = layers.map((l) => {
      const at = steps.filter((s) => Number(s.layer) === l);
      const dense = at.filter((s) => s.method === 'full');
      const keep = (v: string) => {
        const xs = at.filter((s) => s.method === v && Number(s.budget) === b);
        const mass = xs.reduce((a, s) => a + Number(s.keyMass), 0);
        return xs.length && mass > 0 ? xs.reduce((a, s) => a + Number(s.keyMass) * Number(s.keyMassRecall), 0) / mass : null;
      };
      return [l, dense.reduce((a, s) => a + Number(s.keyMass), 0) / Math.max(1, dense.length), dense.reduce((a, s) => a + Number(s.needleMass), 0) / Math.max(1, dense.length), ...shown.map(keep)];
    });
    tables.layers = `key mass recall per layer at B = ${b} (every document and answer step; weighted by the dense attention on the key)\n\n` +
      markdown(['layer', 'dense attention on the key digits', 'on the whole needle', ...shown], rows);
  }
}

// ---------- ClusterKV's scoring x tokens per cluster against Quest ----------
if (scoring) {
  const t = labelled(scoring.table);
  const budgets = budgetsOf(t);
  const header = ['method', ...budgets.map((b) => `B=${b}`)];
  const contexts = [...new Set(t.map((r) => Number(r.context)))].sort((a, b) => a - b);
  const parts = [`**accuracy, every context** (${contexts.join(', ')}; ${new Set(t.map((r) => r.document)).size} documents)\n\n${markdown(header, pivot(t, 'correct', budgets))}`];
  for (const c of contexts) {
    const sub = t.filter((r) => Number(r.context) === c);
    parts.push(`**accuracy, context ${c}** (${new Set(sub.map((r) => r.document)).size} documents)\n\n${markdown(header, pivot(sub, 'correct', budgets))}`);
  }
  parts.push(`**key mass recall, every context**\n\n${markdown(header, pivot(t, 'keyMassRecall', budgets))}`);
  parts.push(`**mass recall (all dense attention kept), every context**\n\n${markdown(header, pivot(t, 'massRecall', budgets))}`);
  parts.push(`**digits right (of 5), every context**\n\n${markdown(header, pivot(t, 'digitsCorrect', budgets))}`);
  // the layer that reads the key (3 in this model) against the others
  if (scoring.steps) {
    const steps = scoring.steps.objects() as Row[];
    const cellVariant = new Map(t.map((r) => [String(r.cell), String(r.variant)]));
    const variants = [...new Set(t.map((r) => String(r.variant)))].filter((v) => v !== 'full').sort(variantOrder);
    const pooled = (xs: Row[]) => {
      const mass = xs.reduce((a, s) => a + Number(s.keyMass), 0);
      return mass > 0 ? xs.reduce((a, s) => a + Number(s.keyMass) * Number(s.keyMassRecall), 0) / mass : null;
    };
    const meanMass = (xs: Row[]) => (xs.length ? xs.reduce((a, s) => a + Number(s.massRecall), 0) / xs.length : null);
    const rows = variants.flatMap((v) => [32, 128].filter((b) => budgets.includes(b)).map((b) => {
      const xs = steps.filter((s) => cellVariant.get(String(s.cell)) === v && Number(s.budget) === b);
      const l3 = xs.filter((s) => Number(s.layer) === 3);
      const other = xs.filter((s) => Number(s.layer) !== 3);
      return [v, b, pooled(l3), meanMass(l3), meanMass(other)];
    }));
    parts.push(`**layer 3 (the layer that reads the key) against the other sparse layers**\n\n${markdown(['method', 'B', 'key mass recall, layer 3', 'mass recall, layer 3', 'mass recall, layers 2, 4, 5'], rows)}`);
  }
  tables.scoring = parts.join('\n\n');
}

// ---------- attention recall of the same variants on a natural-text trace ----------
{
  const dir = path.join(runs, 'sweep-ckv-moby-4k');
  if (existsSync(path.join(dir, 'results.arrow'))) {
    const sweep = readSweepFolder(dir, { allowUnfinished: true });
    const sparse = sparseLayerRows(sweep.table);
    const varying = ['tokensPerCluster', 'scoring'].filter((c) => sparse.columnNames().includes(c));
    const t = (sparse.objects() as Row[]).map((r) => ({ ...r, variant: variant(r, varying) }));
    const budgets = budgetsOf(t);
    const header = ['method', ...budgets.map((b) => `B=${b}`)];
    tables.sweep = `**mass recall** (sparse layers 2-5, every head and decode step; ckvlab-9m-16k, Moby Dick, prefill ${sweep.manifest?.trace.prefillLength}, ${sweep.manifest?.trace.steps} steps)\n\n${markdown(header, pivot(t, 'massRecall', budgets))}` +
      `\n\n**top-k recall**\n\n${markdown(header, pivot(t, 'topkRecall', budgets))}`;
  }
}

// ---------- wall times ----------
{
  const logs = existsSync(path.join(runs, 'logs')) ? readdirSync(path.join(runs, 'logs')).filter((l) => l.endsWith('.time')).sort() : [];
  const rows = logs.map((l) => {
    const text = readFileSync(path.join(runs, 'logs', l), 'utf8');
    const rss = Math.max(0, ...[...text.matchAll(/Maximum resident set size \(kbytes\): (\d+)/g)].map((m) => Number(m[1]) / 1024));
    return [l.replace(/\.time$/, ''), hms(seconds(path.join(runs, 'logs', l))), Math.round(rss)];
  });
  const total = logs.reduce((a, l) => a + (seconds(path.join(runs, 'logs', l)) ?? 0), 0);
  rows.push(['sum of the stages above', hms(total), '']);
  // the driver's log: a stage stopped and restarted (resumed) has no .time of its stopped part, so the wall time
  // of the whole study is the sum of the driver's running spans: each (re)start to the last event before the next
  const driver = path.join(runs, 'logs', 'driver.log');
  if (existsSync(driver)) {
    const events = readFileSync(driver, 'utf8').trim().split('\n').map((l) => ({ what: l.slice(0, l.lastIndexOf(' ')), at: Date.parse(l.slice(l.lastIndexOf(' ') + 1)) }));
    let wall = 0;
    let from: number | undefined;
    let last: number | undefined;
    for (const e of events) {
      if (e.what === 'start' || e.what === 'restart') {
        if (from !== undefined && last !== undefined) wall += last - from;
        from = e.at;
      }
      last = e.at;
    }
    if (from !== undefined && last !== undefined) wall += last - from;
    rows.push(['**the whole study (runs/study/passkey/logs/driver.log spans)**', hms(wall / 1000), '']);
  }
  const prefill = methods ? Object.entries(methods.manifest.prefillSeconds) : [];
  const prefillRows = [...new Set(prefill.map(([d]) => Number(d.split('-')[0].slice(1))))].sort((a, b) => a - b).map((c) => {
    const xs = prefill.filter(([d]) => d.startsWith(`c${c}-`)).map(([, s]) => s);
    return [c, xs.length, xs.reduce((a, b) => a + b, 0) / xs.length];
  });
  tables.runtimes = markdown(['stage (runs/study/passkey/logs/NAME.time)', 'wall (h:mm:ss)', 'max RSS (MB)'], rows) +
    (prefillRows.length ? `\n\ndense prefill per document (methods folder, seconds, on the shared machine)\n\n${markdown(['context', 'documents', 'mean prefill (s)'], prefillRows, 1)}` : '');
}

// ---------- write ----------
console.log(writeTables(tables, readme, 'passkey-tables.md', 'passkey-', 'study/passkey-summary.ts', runs));
