/**
 * The passkey study's tables: reads the folders study/passkey.sh writes (runs/study/passkey by default) and
 * replaces every `<!-- BEGIN PREFIX-NAME -->...<!-- END PREFIX-NAME -->` block of study/README.md with the
 * table NAME below (the text around them is hand-written from these tables). Two studies, each written only
 * when one of its folders exists (so regenerating one leaves the other's committed tables as they are):
 *   issue 14  ckvlab-passkey-9m: folders methods, scoring, sweep-ckv-moby-4k; blocks passkey-NAME,
 *             every table also in study/passkey-tables.md
 *   issue 21  ckvlab-passkey-9m-32k: folders methods32k, scoring32k, and study/run.sh's sweeps of the
 *             ckv-moby-8k and ckv-moby-16k traces (SWEEPS_DIR, default runs/study/sweeps); blocks
 *             passkey21-NAME, every table also in study/passkey21-tables.md
 *
 *   npx tsx study/passkey-summary.ts [RUNS_DIR] [README] [SWEEPS_DIR]
 *
 * Recall columns are over the sparse layers (2..5) and the six answer steps decoded by the method, pooled over
 * query heads (src/model/passkey/needle-recall.ts). Rows follow the registry's order (METHODS).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as aq from 'arquero';
import { markdown, writeTables } from './markdown.js';
import { readEvalManifest, readPasskeyEvalFolder, type PasskeyEvalFolder } from '../src/model/passkey/eval-folder.js';
import { passkeyVariantColumns } from '../src/model/passkey/summary.js';
import { METHODS } from '../src/sim/methods/index.js';
import { readSweepFolder } from '../src/sim/results-folder.js';
import { sparseLayerRows } from '../src/sim/sparse-layers.js';

const runs = process.argv[2] ?? 'runs/study/passkey';
const readme = process.argv[3] ?? 'study/README.md';
const sweeps = process.argv[4] ?? path.join(path.dirname(runs), 'sweeps');
/** the registry's order of methods: rows and columns follow it */
const METHOD_ORDER = METHODS.map((m) => m.name);
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
  return tpc(b) - tpc(a) || a.localeCompare(b, 'en', { numeric: true });
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

function documentCount(rows: Row[]): number {
  return new Set(rows.map((r) => String(r.document))).size;
}

/** The key-mass-weighted key mass recall of step rows (heads that read the key count, others do not). */
function pooledKeyRecall(xs: Row[]): number | null {
  const mass = xs.reduce((a, s) => a + Number(s.keyMass), 0);
  return mass > 0 ? xs.reduce((a, s) => a + Number(s.keyMass) * Number(s.keyMassRecall), 0) / mass : null;
}

/** The sparse layer that puts the most dense attention on the key digits (the one that reads the key). */
function keyReadingLayer(steps: Row[]): number {
  const dense = steps.filter((s) => s.method === 'full');
  const layers = [...new Set(dense.map((s) => Number(s.layer)))].sort((a, b) => a - b);
  const mass = (l: number) => {
    const xs = dense.filter((s) => Number(s.layer) === l);
    return xs.reduce((a, s) => a + Number(s.keyMass), 0) / Math.max(1, xs.length);
  };
  return layers.reduce((best, l) => (mass(l) > mass(best) ? l : best), layers[0]);
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

/** The .time logs of `dir` whose names `keep` accepts, sorted. */
function timeLogs(dir: string, keep: (name: string) => boolean): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((l) => l.endsWith('.time') && keep(l.replace(/\.time$/, ''))).sort() : [];
}

// ---------- the grid that ran ----------
function gridTable(folders: [string, PasskeyEvalFolder | undefined][]): string {
  const rows: unknown[][] = [];
  for (const [name, f] of folders) {
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
    const logs = timeLogs(path.join(runs, 'logs'), (l) => l.startsWith(`${name}-`));
    const wall = logs.reduce((a, l) => a + (seconds(path.join(runs, 'logs', l)) ?? 0), 0);
    rows.push([name, perContext.join('; '), docs.size, new Set(t.map((r) => String(r.cell))).size, t.length,
      full.length ? `${(full.filter((r) => Number(r.correct) === 1).length / full.length).toFixed(3)}${misses.length ? `; misses: ${misses.join(', ')}` : ' (no miss)'}` : '-', hms(wall), f.manifest.status]);
  }
  return markdown(['folder', 'documents per context', 'documents', 'cells', 'rows', 'dense accuracy', 'wall (h:mm:ss)', 'status'], rows);
}

// ---------- accuracy per method and budget, and the needle recall that explains it ----------
function methodTables(f: PasskeyEvalFolder): Record<string, string> {
  const tables: Record<string, string> = {};
  const t = labelled(f.table);
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
  const innerDense = inner.filter((r) => r.method === 'full');
  const innerMisses = innerDense.filter((r) => Number(r.correct) !== 1).length;
  const whereDense = innerMisses === 0 ? 'where dense attention answers every document' : `dense attention misses ${innerMisses} of them`;
  parts.push(`**all contexts, depths below 1** (${new Set(inner.map((r) => r.document)).size} documents: ${whereDense}; depth 1 puts the needle right before the question)\n\n${markdown(header, pivot(inner, 'correct', budgets))}`);
  tables.accuracy = parts.join('\n\n');
  const docs = documentCount(t);
  tables.digits = `mean over each method and budget's wrong answers among the ${docs} documents (full: all ${docs} answers)\n\n` +
    markdown(header, pivot(t.filter((r) => Number(r.correct) !== 1 || r.method === 'full'), 'digitsCorrect', budgets));
  tables.recall = `**key mass recall** (share of the dense attention on the key digits that the selection kept; ${docs} documents)\n\n${markdown(header, pivot(t, 'keyMassRecall', budgets))}` +
    `\n\n**needle coverage** (share of the needle's tokens selected, mean over heads, layers and steps; ${docs} documents)\n\n${markdown(header, pivot(t, 'needleCoverage', budgets))}` +
    `\n\n**mass recall** (share of all dense attention kept; ${docs} documents)\n\n${markdown(header, pivot(t, 'massRecall', budgets))}`;

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
    const perDepth = depths.map((d) => documentCount(t.filter((r) => Number(r.depth) === d)));
    const each = new Set(perDepth).size === 1 ? `${perDepth[0]} per depth` : `per depth ${perDepth.join('/')}`;
    byDepth.push(`**B = ${b}** (accuracy by needle depth, every context; ${docs} documents, ${each})\n\n${markdown(['depth', ...variants], rows)}`);
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
      parts.push(`**B = ${b}** (share of answers whose i-th digit equals the key's; every context, ${docs} documents)\n\n${markdown(['method', 'digit 1', 'digit 2', 'digit 3', 'digit 4', 'digit 5'], rows)}`);
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
  if (f.steps) {
    const steps = f.steps.objects() as Row[];
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
    tables.layers = `key mass recall per layer at B = ${b} (every answer step of the ${docs} documents; weighted by the dense attention on the key)\n\n` +
      markdown(['layer', 'dense attention on the key digits', 'on the whole needle', ...shown], rows);
  }
  return tables;
}

/**
 * Issue 21's view of the key-reading layer per context: for every method at budget b, accuracy and key mass
 * recall in the layer that reads the key, one column pair per context; and the tokens each method really
 * attended (InfiniGen's threshold and the -topp budgets spend less than B).
 */
function keyLayerTables(f: PasskeyEvalFolder): Record<string, string> {
  const tables: Record<string, string> = {};
  if (!f.steps) return tables;
  const t = labelled(f.table);
  const steps = f.steps.objects() as Row[];
  const keyLayer = keyReadingLayer(steps);
  const budgets = budgetsOf(t);
  const contexts = [...new Set(t.map((r) => Number(r.context)))].sort((a, b) => a - b);
  const variantOf = new Map(t.map((r) => [String(r.cell), String(r.variant)]));
  const parts: string[] = [];
  for (const b of [64, 256].filter((x) => budgets.includes(x))) {
    const variants = [...new Set(t.filter((r) => Number(r.budget) === b).map((r) => String(r.variant)))].sort(variantOrder);
    const rows = variants.map((v) => [v, ...contexts.flatMap((c) => {
      const rs = t.filter((r) => r.variant === v && Number(r.budget) === b && Number(r.context) === c);
      const ss = steps.filter((s) => variantOf.get(String(s.cell)) === v && Number(s.budget) === b && Number(s.layer) === keyLayer && String(s.document).startsWith(`c${c}-`));
      return [rs.length ? rs.reduce((a, r) => a + Number(r.correct), 0) / rs.length : null, pooledKeyRecall(ss)];
    })]);
    const docs = contexts.map((c) => `${c}: ${documentCount(t.filter((r) => Number(r.context) === c))}`).join(', ');
    parts.push(`**B = ${b}**: accuracy and key mass recall in layer ${keyLayer} (the layer that reads the key), per context (documents: ${docs})\n\n` +
      markdown(['method', ...contexts.flatMap((c) => [`accuracy ${c}`, `key recall L${keyLayer} ${c}`])], rows));
  }
  tables.keylayer = parts.join('\n\n');

  // which digit is lost: key mass recall in the key-reading layer per answer step (step i decodes digit i; 6: the period)
  {
    const b = budgets.includes(64) ? 64 : budgets[0];
    const stepNumbers = [...new Set(steps.map((s) => Number(s.step)))].sort((x, y) => x - y);
    const variants = [...new Set(t.filter((r) => Number(r.budget) === b).map((r) => String(r.variant)))].sort(variantOrder);
    const at = steps.filter((s) => Number(s.layer) === keyLayer && (Number(s.budget) === b || s.method === 'full'));
    const rows = variants.map((v) => [v, ...stepNumbers.map((n) => pooledKeyRecall(at.filter((s) => variantOf.get(String(s.cell)) === v && Number(s.step) === n)))]);
    const dense = at.filter((s) => s.method === 'full');
    rows.unshift(['dense attention on the key digits', ...stepNumbers.map((n) => {
      const xs = dense.filter((s) => Number(s.step) === n);
      return xs.length ? xs.reduce((a, s) => a + Number(s.keyMass), 0) / xs.length : null;
    })]);
    tables.digitsteps = `key mass recall in layer ${keyLayer} per answer step at B = ${b} (step i decodes digit i, step 6 the period; every context, ${documentCount(t)} documents; the first row is the dense attention on the key digits, the share recalled is of it)\n\n` +
      markdown(['method', ...stepNumbers.map((n) => `step ${n}`)], rows);
  }

  // tokens attended per query head and step (sparse layers, answer steps): the budget really spent
  const attended = steps.filter((s) => s.method !== 'full').map((s) => ({ ...s, variant: variantOf.get(String(s.cell)) }));
  tables.spent = `mean tokens attended per query head, sparse layer and answer step (the forced set of 16 sinks, the open window and the current token included; ${documentCount(t)} documents)\n\n` +
    markdown(['method', ...budgets.map((b) => `B=${b}`)], pivot(attended, 'attended', budgets), 1);
  return tables;
}

// ---------- ClusterKV's scoring x tokens per cluster against Quest ----------
function scoringTables(f: PasskeyEvalFolder): string {
  const t = labelled(f.table);
  const budgets = budgetsOf(t);
  const header = ['method', ...budgets.map((b) => `B=${b}`)];
  const contexts = [...new Set(t.map((r) => Number(r.context)))].sort((a, b) => a - b);
  const parts = [`**accuracy, every context** (${contexts.join(', ')}; ${new Set(t.map((r) => r.document)).size} documents)\n\n${markdown(header, pivot(t, 'correct', budgets))}`];
  if (contexts.length > 1) {
    for (const c of contexts) {
      const sub = t.filter((r) => Number(r.context) === c);
      parts.push(`**accuracy, context ${c}** (${new Set(sub.map((r) => r.document)).size} documents)\n\n${markdown(header, pivot(sub, 'correct', budgets))}`);
    }
  }
  const docs = documentCount(t);
  parts.push(`**key mass recall, every context** (${docs} documents)\n\n${markdown(header, pivot(t, 'keyMassRecall', budgets))}`);
  parts.push(`**mass recall (all dense attention kept), every context** (${docs} documents)\n\n${markdown(header, pivot(t, 'massRecall', budgets))}`);
  parts.push(`**digits right (of 5), every context** (${docs} documents)\n\n${markdown(header, pivot(t, 'digitsCorrect', budgets))}`);
  // the layer that reads the key against the others
  if (f.steps) {
    const steps = f.steps.objects() as Row[];
    const keyLayer = keyReadingLayer(steps);
    const others = [...new Set(steps.map((s) => Number(s.layer)))].filter((l) => l !== keyLayer).sort((a, b) => a - b);
    const cellVariant = new Map(t.map((r) => [String(r.cell), String(r.variant)]));
    const variants = [...new Set(t.map((r) => String(r.variant)))].filter((v) => v !== 'full').sort(variantOrder);
    const meanMass = (xs: Row[]) => (xs.length ? xs.reduce((a, s) => a + Number(s.massRecall), 0) / xs.length : null);
    const rows = variants.flatMap((v) => [32, 128].filter((b) => budgets.includes(b)).map((b) => {
      const xs = steps.filter((s) => cellVariant.get(String(s.cell)) === v && Number(s.budget) === b);
      const lk = xs.filter((s) => Number(s.layer) === keyLayer);
      const other = xs.filter((s) => Number(s.layer) !== keyLayer);
      return [v, b, pooledKeyRecall(lk), meanMass(lk), meanMass(other)];
    }));
    parts.push(`**layer ${keyLayer} (the layer that reads the key) against the other sparse layers** (every answer step of the ${docs} documents)\n\n${markdown(['method', 'B', `key mass recall, layer ${keyLayer}`, `mass recall, layer ${keyLayer}`, `mass recall, layers ${others.join(', ')}`], rows)}`);
  }
  return parts.join('\n\n');
}

// ---------- attention recall on a natural-text trace ----------
/** The sweep folder's sparse-layer rows labelled by variant (the parameters that vary: scoring, tokensPerCluster, clusters). */
function sweepRows(dir: string, varying: string[]): { t: Row[]; prefill?: number; steps?: number } | undefined {
  if (!existsSync(path.join(dir, 'results.arrow'))) return undefined;
  const sweep = readSweepFolder(dir, { allowUnfinished: true });
  const sparse = sparseLayerRows(sweep.table);
  const cols = varying.filter((c) => sparse.columnNames().includes(c));
  return { t: (sparse.objects() as Row[]).map((r) => ({ ...r, variant: variant(r, cols) })), prefill: sweep.manifest?.trace.prefillLength, steps: sweep.manifest?.trace.steps };
}

/** issue 14's table of the 4K trace sweep */
function sweepTable(dir: string): string | undefined {
  const s = sweepRows(dir, ['tokensPerCluster', 'scoring']);
  if (!s) return undefined;
  const budgets = budgetsOf(s.t);
  const header = ['method', ...budgets.map((b) => `B=${b}`)];
  return `**mass recall** (sparse layers 2-5, every head and decode step; ckvlab-9m-16k, Moby Dick, prefill ${s.prefill}, ${s.steps} steps)\n\n${markdown(header, pivot(s.t, 'massRecall', budgets))}` +
    `\n\n**top-k recall**\n\n${markdown(header, pivot(s.t, 'topkRecall', budgets))}`;
}

/** issue 21's tables of study/run.sh's sweeps of every method: mass recall, tokens attended, mass recall per layer */
function traceTables(names: string[]): string | undefined {
  const parts: string[] = [];
  for (const name of names) {
    // ClusterKV's variants in run.sh's sweeps are its prompt cluster counts C0 (--clusters)
    const swept = sweepRows(path.join(sweeps, name), ['clusters']);
    if (!swept) continue;
    // full is 1 everywhere (the reference): left out, as in study/summarize.ts's tables
    const s = { ...swept, t: swept.t.filter((r) => r.method !== 'full') };
    const budgets = budgetsOf(s.t);
    const header = ['method', ...budgets.map((b) => `B=${b}`)];
    const layers = [...new Set(s.t.map((r) => Number(r.layer)))].sort((a, b) => a - b);
    const b = budgets.includes(1024) ? 1024 : budgets[0];
    const variants = [...new Set(s.t.map((r) => String(r.variant)))].sort(variantOrder);
    const perLayer = variants.map((v) => [v, ...layers.map((l) => {
      const xs = s.t.filter((r) => r.variant === v && Number(r.budget) === b && Number(r.layer) === l);
      return xs.length ? xs.reduce((a, r) => a + Number(r.massRecall), 0) / xs.length : null;
    })]);
    parts.push(`**${name}: mass recall** (ckvlab-9m-16k, Moby Dick, prefill ${s.prefill}, ${s.steps} decode steps; sparse layers ${layers.join(', ')}, every query head and step; clusters = C0)\n\n${markdown(header, pivot(s.t, 'massRecall', budgets))}` +
      `\n\n**${name}: tokens attended** (mean per query head and step, the forced set included: the budget really spent)\n\n${markdown(header, pivot(s.t, 'tokensAttended', budgets), 1)}` +
      `\n\n**${name}: mass recall per layer at B = ${b}**\n\n${markdown(['method', ...layers.map((l) => `layer ${l}`)], perLayer)}`);
  }
  return parts.length ? parts.join('\n\n') : undefined;
}

// ---------- wall times ----------
interface LogSet {
  dir: string;
  keep: (name: string) => boolean;
}

function runtimesTable(sets: LogSet[], stageLabel: string, driver: { file: string; label: string }, prefillFolder: PasskeyEvalFolder | undefined, prefillLabel: string): string {
  const logs = sets.flatMap((s) => timeLogs(s.dir, s.keep).map((l) => path.join(s.dir, l)));
  const rows: unknown[][] = logs.map((file) => {
    const text = readFileSync(file, 'utf8');
    const rss = Math.max(0, ...[...text.matchAll(/Maximum resident set size \(kbytes\): (\d+)/g)].map((m) => Number(m[1]) / 1024));
    return [path.basename(file).replace(/\.time$/, ''), hms(seconds(file)), Math.round(rss)];
  });
  const total = logs.reduce((a, file) => a + (seconds(file) ?? 0), 0);
  rows.push(['sum of the stages above', hms(total), '']);
  // the driver's log: a stage stopped and restarted (resumed) has no .time of its stopped part, so the wall time
  // of the whole study is the sum of the driver's running spans: each (re)start to the last event before the next
  if (existsSync(driver.file)) {
    const events = readFileSync(driver.file, 'utf8').trim().split('\n').map((l) => ({ what: l.slice(0, l.lastIndexOf(' ')), at: Date.parse(l.slice(l.lastIndexOf(' ') + 1)) }));
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
    rows.push([`**the whole study (${driver.label} spans)**`, hms(wall / 1000), '']);
  }
  const prefill = prefillFolder ? Object.entries(prefillFolder.manifest.prefillSeconds) : [];
  const prefillRows = [...new Set(prefill.map(([d]) => Number(d.split('-')[0].slice(1))))].sort((a, b) => a - b).map((c) => {
    const xs = prefill.filter(([d]) => d.startsWith(`c${c}-`)).map(([, s]) => s);
    return [c, xs.length, xs.reduce((a, b) => a + b, 0) / xs.length];
  });
  return markdown([stageLabel, 'wall (h:mm:ss)', 'max RSS (MB)'], rows) +
    (prefillRows.length ? `\n\n${prefillLabel}\n\n${markdown(['context', 'documents', 'mean prefill (s)'], prefillRows, 1)}` : '');
}

// ---------- issue 14 ----------
const ISSUE21_LOGS = /^(methods32k|scoring32k)-/;
const methods = load('methods');
const scoring = load('scoring');
const sweep4k = sweepTable(path.join(runs, 'sweep-ckv-moby-4k'));
if (methods || scoring || sweep4k) {
  const tables: Record<string, string> = {};
  tables.grid = gridTable([['methods', methods], ['scoring', scoring]]);
  if (methods) Object.assign(tables, methodTables(methods));
  if (scoring) tables.scoring = scoringTables(scoring);
  if (sweep4k) tables.sweep = sweep4k;
  tables.runtimes = runtimesTable([{ dir: path.join(runs, 'logs'), keep: (l) => !ISSUE21_LOGS.test(l) }], 'stage (runs/study/passkey/logs/NAME.time)',
    { file: path.join(runs, 'logs', 'driver.log'), label: 'runs/study/passkey/logs/driver.log' }, methods, 'dense prefill per document (methods folder, seconds, on the shared machine)');
  console.log(writeTables(tables, readme, 'passkey-tables.md', 'passkey-', 'study/passkey-summary.ts', runs));
} else {
  console.log(`issue 14's folders (methods, scoring, sweep-ckv-moby-4k) are not in ${runs}: their tables stay as committed`);
}

// ---------- issue 21 ----------
const TRACE_SWEEPS = ['ckv-moby-8k', 'ckv-moby-16k'];
/** the logs of study/run.sh's stages the recall stage runs (its traces stage and the two sweeps) */
const RECALL_LOGS = /^(capture-(ckv-moby-8k|ckv-moby-16k|s260k-moby-2k)|synth-synth-(8k|16k)|sweep-ckv-moby-(8k|16k))$/;
const methods32k = load('methods32k');
const scoring32k = load('scoring32k');
const traces = traceTables(TRACE_SWEEPS);
if (methods32k || scoring32k || traces) {
  const tables: Record<string, string> = {};
  tables.grid = gridTable([['methods32k', methods32k], ['scoring32k', scoring32k]]);
  if (methods32k) Object.assign(tables, methodTables(methods32k), keyLayerTables(methods32k));
  if (scoring32k) tables.scoring = scoringTables(scoring32k);
  if (traces) tables.traces = traces;
  tables.runtimes = runtimesTable(
    [{ dir: path.join(runs, 'logs'), keep: (l) => ISSUE21_LOGS.test(l) }, { dir: path.join(path.dirname(sweeps), 'logs'), keep: (l) => RECALL_LOGS.test(l) }],
    'stage (runs/study/passkey/logs/NAME.time; capture, synth, sweep: runs/study/logs/NAME.time)',
    { file: path.join(runs, 'logs', 'driver-issue21.log'), label: 'runs/study/passkey/logs/driver-issue21.log' },
    methods32k, 'dense prefill per document (methods32k folder, seconds, on the shared machine)',
  );
  console.log(writeTables(tables, readme, 'passkey21-tables.md', 'passkey21-', 'study/passkey-summary.ts', runs));
}
