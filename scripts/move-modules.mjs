// Moves source files and rewrites every relative import that reaches them (and the moved files' own relative
// imports), across src/, test/, bench/, study/ and scripts/: `node scripts/move-modules.mjs OLD NEW [OLD NEW ...]`
// (repository-relative paths of .ts files). git mv keeps the history. Notebooks import './src/...' by module
// path; those are rewritten too. A maintenance tool for reorganisations, not part of the package.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = process.cwd();
const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) {
  console.error('usage: node scripts/move-modules.mjs OLD.ts NEW.ts [OLD NEW ...]');
  process.exit(1);
}
/** absolute old path -> absolute new path */
const moves = new Map();
for (let i = 0; i < args.length; i += 2) moves.set(path.resolve(root, args[i]), path.resolve(root, args[i + 1]));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) || name.endsWith('.ipynb')) out.push(full);
  }
  return out;
}
const files = ['src', 'test', 'bench', 'study', 'scripts', 'notebooks'].flatMap((d) => {
  try {
    return walk(path.join(root, d), []);
  } catch {
    return [];
  }
});

const SPEC = /((?:from|import)\s*\(?\s*|vi\.mock\(\s*|import\(\s*)(['"])(\.{1,2}\/[^'"]+)\2/g;

function toTs(abs) {
  return abs.replace(/\.js$/, '.ts');
}
function relSpec(fromFile, targetTs, hadJs) {
  let rel = path.relative(path.dirname(fromFile), targetTs);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return hadJs ? rel.replace(/\.ts$/, '.js') : rel.replace(/\.ts$/, '');
}

let changed = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const newFile = moves.get(file) ?? file;
  let out;
  if (file.endsWith('.ipynb')) {
    // notebooks run from the repository root and import './src/x' without an extension
    out = text.replace(/(['"])\.\/((?:src|test)\/[^'"]+)\1/g, (m, q, spec) => {
      const abs = path.resolve(root, spec) + '.ts';
      const target = moves.get(abs);
      if (!target) return m;
      return `${q}./${path.relative(root, target).replace(/\.ts$/, '')}${q}`;
    });
  } else {
    out = text.replace(SPEC, (m, lead, q, spec) => {
      const hadJs = spec.endsWith('.js');
      const oldTarget = toTs(path.resolve(path.dirname(file), spec));
      const isTs = hadJs || spec.endsWith('.ts') || !path.extname(spec);
      if (!isTs) return m;
      const target = moves.get(hadJs || spec.endsWith('.ts') ? oldTarget : `${oldTarget}.ts`) ?? (hadJs || spec.endsWith('.ts') ? oldTarget : `${oldTarget}.ts`);
      if (target === (hadJs || spec.endsWith('.ts') ? oldTarget : `${oldTarget}.ts`) && newFile === file) return m;
      return `${lead}${q}${relSpec(newFile, target, hadJs)}${q}`;
    });
  }
  if (out !== text) {
    writeFileSync(file, out);
    changed += 1;
  }
}
for (const [from, to] of moves) {
  execFileSync('mkdir', ['-p', path.dirname(to)]);
  execFileSync('git', ['mv', from, to]);
}
console.log(`moved ${moves.size} file(s); rewrote imports in ${changed} file(s)`);
