/**
 * The design lives in the repo (docs/DESIGN.md) and is cited by its path there:
 *   - no file of the repo (outside node_modules and dist) cites the brief outside the repo, a bare DESIGN.md
 *     (how comments used to cite it), or the design notes that DESIGN.md replaced;
 *   - every `docs/DESIGN.md#anchor` cited anywhere (and every `(#anchor)` link inside DESIGN.md) names one of
 *     its headings, by GitHub's heading slugs;
 *   - the tables DESIGN.md marks are the declarations: method parameters and their defaults (METHODS,
 *     BUDGET_PARAMS), the metric list (METRICS), the kernel list (KERNELS: names, paths, implementations).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../src/gpu/kernel-list.js';
import { BUDGET_PARAMS, METHODS } from '../../src/sim/methods/index.js';
import { METRICS } from '../../src/sim/metrics.js';

const ROOT = path.join(__dirname, '..', '..');
const DESIGN = 'docs/DESIGN.md';
/** This file holds the forbidden citations as samples for the scanner's own checks. */
const SELF = path.relative(ROOT, __filename).split(path.sep).join('/');

/** Repo-relative paths (posix) of the repo's files: tracked and untracked-but-not-ignored, outside node_modules and dist. */
function repoFiles(): string[] {
  let listed: string[];
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0');
  } catch {
    listed = walk(''); // no git here: the tree, less what .gitignore names
  }
  return [...new Set(listed)].filter((f) => f !== '' && !/^(node_modules|dist)\//.test(f) && existsSync(path.join(ROOT, f)) && statSync(path.join(ROOT, f)).isFile());
}

function walk(dir: string): string[] {
  const ignored = new Set(['.git', 'node_modules', 'dist', ...readFileSync(path.join(ROOT, '.gitignore'), 'utf8').split('\n').filter((l) => l && !l.includes('*')).map((l) => l.replace(/^\/|\/$/g, ''))]);
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    if (ignored.has(name) || name.endsWith('.tmp')) return [];
    const rel = dir ? `${dir}/${name}` : name;
    return statSync(path.join(ROOT, rel)).isDirectory() ? walk(rel) : [rel];
  });
}

/** The text of a file, or undefined for a binary one (a NUL byte in its first 8 KB). */
function textOf(file: string): string | undefined {
  const bytes = readFileSync(path.join(ROOT, file));
  return bytes.subarray(0, 8192).includes(0) ? undefined : bytes.toString('utf8');
}

interface DesignCitation {
  /** the path as written, e.g. docs/DESIGN.md, ../docs/DESIGN.md, ../shared/DESIGN.md */
  written: string;
  anchor?: string;
  /** whether the path resolves to docs/DESIGN.md from the repo root or from the citing file's folder */
  inRepo: boolean;
}

/** Every mention of a DESIGN.md in `text` of repo file `file`, with its anchor. */
function designCitations(file: string, text: string): DesignCitation[] {
  return [...text.matchAll(/([\w./-]*)DESIGN\.md(?:#([\w-]+))?/g)].map((m) => {
    const written = `${m[1]}DESIGN.md`;
    const inRepo = !written.startsWith('/') && (path.posix.normalize(written) === DESIGN || path.posix.normalize(path.posix.join(path.posix.dirname(file), written)) === DESIGN);
    return { written, anchor: m[2], inRepo };
  });
}

/** Whether `text` cites the design notes DESIGN.md replaced. */
function citesDesignNotes(text: string): boolean {
  return /DESIGN-NOTES/.test(text);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown document's headings (outside code fences), repeated ones numbered as GitHub does. */
function headingAnchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = headingSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Rows of the markdown table after `<!-- marker -->` (up to the first blank line), cells trimmed, `\|` unescaped. */
function markedRows(markdown: string, marker: string): string[][] | undefined {
  const parts = markdown.split(`<!-- ${marker} -->`);
  if (parts.length !== 2) return undefined;
  const block = parts[1].replace(/^\n+/, '').split(/\n\s*\n/)[0];
  return block
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.replace(/\\\|/g, '\u0000').split('|').slice(1, -1).map((c) => c.trim().replace(/\u0000/g, '|')));
}

const unquote = (cell: string) => cell.replace(/`/g, '');
const files = repoFiles().filter((f) => f !== SELF);
const texts = new Map(files.map((f) => [f, textOf(f)] as const).filter((e): e is readonly [string, string] => e[1] !== undefined));
const design = readFileSync(path.join(ROOT, DESIGN), 'utf8');
const anchors = headingAnchors(design);

describe('the scanner', () => {
  it('tells citations of the repo design from those of the brief outside it', () => {
    const inRepo = (file: string, text: string) => designCitations(file, text).map((c) => c.inRepo);
    expect(inRepo('src/sim/a.ts', '(see ../shared/DESIGN.md "Metrics")')).toEqual([false]);
    expect(inRepo('src/sim/a.ts', 'Rule (DESIGN.md): argmax')).toEqual([false]);
    expect(inRepo('src/sim/a.ts', 'at /work/shared/DESIGN.md')).toEqual([false]);
    expect(inRepo('src/sim/a.ts', 'docs/DESIGN.md#metrics, `./docs/DESIGN.md`')).toEqual([true, true]);
    expect(inRepo('bench/README.md', '[design](../docs/DESIGN.md#benchmark-protocol)')).toEqual([true]);
    expect(inRepo('docs/OTHER.md', '[design](DESIGN.md#layers)')).toEqual([true]);
    expect(inRepo('src/a.ts', 'DESIGN_BENCH')).toEqual([]);
    expect(designCitations('src/a.ts', 'docs/DESIGN.md#k-means.')[0].anchor).toBe('k-means');
    expect(citesDesignNotes('docs/DESIGN-NOTES.md')).toBe(true);
  });

  it('makes the anchors GitHub makes', () => {
    expect(headingSlug('Where this differs from the original brief')).toBe('where-this-differs-from-the-original-brief');
    expect(headingSlug('K-means')).toBe('k-means');
    expect(headingSlug("ClusterKV's `scoring`, again!")).toBe('clusterkvs-scoring-again');
    expect([...headingAnchors('# A\n```\n# not a heading\n```\n## A\n### B b')]).toEqual(['a', 'a-1', 'b-b']);
  });
});

describe('citations of the design', () => {
  it('finds the repo files, DESIGN.md among them', () => {
    expect(texts.size).toBeGreaterThan(200);
    expect(texts.has(DESIGN)).toBe(true);
  });

  it('cite docs/DESIGN.md, never the brief outside the repo or a bare DESIGN.md', () => {
    const bad = [...texts].flatMap(([file, text]) => designCitations(file, text).filter((c) => !c.inRepo).map((c) => `${file}: ${c.written}`));
    expect(bad).toEqual([]);
  });

  it('do not cite the design notes that DESIGN.md replaced', () => {
    expect([...texts].filter(([, text]) => citesDesignNotes(text)).map(([file]) => file)).toEqual([]);
    expect(existsSync(path.join(ROOT, 'docs', 'DESIGN-NOTES.md'))).toBe(false);
  });

  it('name headings DESIGN.md has', () => {
    const cited = [...texts].flatMap(([file, text]) => designCitations(file, text).filter((c) => c.inRepo && c.anchor !== undefined).map((c) => ({ file, anchor: c.anchor! })));
    const internal = [...design.matchAll(/\]\(#([\w-]+)\)/g)].map((m) => ({ file: DESIGN, anchor: m[1] }));
    expect(cited.length).toBeGreaterThan(10);
    expect([...cited, ...internal].filter((c) => !anchors.has(c.anchor)).map((c) => `${c.file}: #${c.anchor}`)).toEqual([]);
  });
});

describe('DESIGN.md tables are the declarations', () => {
  const shared = Object.entries(BUDGET_PARAMS);
  const defaultCell = (d: unknown) => (d === undefined ? 'required' : String(d));

  it('the shared parameters, with their defaults', () => {
    const rows = markedRows(design, 'params:shared');
    expect(rows?.map(([name, value]) => [unquote(name), unquote(value)])).toEqual(shared.map(([name, p]) => [name, defaultCell(p.default)]));
  });

  for (const method of METHODS) {
    it(`${method.name}: its own parameters, with their defaults`, () => {
      const spreadsShared = shared.every(([name, p]) => method.params[name] === p);
      const own = Object.entries(method.params).filter(([name]) => !(spreadsShared && name in BUDGET_PARAMS));
      const rows = markedRows(design, `params:${method.name}`);
      expect(rows, `DESIGN.md has no <!-- params:${method.name} --> table`).toBeDefined();
      expect(rows!.map(([name, value]) => [unquote(name), unquote(value)])).toEqual(own.map(([name, p]) => [name, defaultCell(p.default)]));
      for (const row of rows!) expect(row[2], `meaning of ${row[0]}`).toMatch(/\w/);
    });
  }

  it('no parameter table of a method the registry does not have', () => {
    const marked = [...design.matchAll(/<!-- params:([\w-]+) -->/g)].map((m) => m[1]).filter((n) => n !== 'shared');
    expect(marked.sort()).toEqual(METHODS.map((m) => m.name).sort());
  });

  it('the metric list: names, meanings, where computed, dense values, summaries', () => {
    const rows = markedRows(design, 'metrics')!.map(([name, meaning, where, dense, summarized]) => ({ name: unquote(name), meaning, where, dense: dense.replace('-', '–'), summarized }));
    expect(rows).toEqual(METRICS.map((m) => ({ name: m.name, meaning: m.meaning, where: m.where, dense: m.where === 'device' ? String(m.dense) : '–', summarized: m.summarized ? 'yes' : 'no' })));
  });

  it('the kernel list, in its order, with its paths and implementations in dispatch order', () => {
    expect(markedRows(design, 'kernels')!.map(([name, paths, implementations]) => [unquote(name), paths, implementations])).toEqual(KERNELS.map((k) => [k.name, k.paths.join(', '), k.implementations.map((i) => i.name).join(', ')]));
  });
});
