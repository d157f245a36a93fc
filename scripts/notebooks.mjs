// Executes every notebook in notebooks/ headless with the project's tslab kernel and checks its figures.
//   node scripts/notebooks.mjs [NAME ...] [--out DIR]      (npm run notebooks [-- NAME ...])
// - registers the kernel "clusterkv-tslab" under .jupyter/ (gitignored) when missing or made for another checkout:
//   tslab compiles with rootDir = its working directory, so the kernel starts in the project root and notebooks
//   import './src/...' (a kernel started in notebooks/ could not compile ../src);
// - runs Debian's Jupyter (/usr/bin/python3 -m nbconvert; pyenv's python3 may shadow it) one notebook at a time,
//   failing on the first cell error, and writes executed copies to out/notebooks/ (gitignored);
// - checks that each executed notebook shows every figure its metadata lists (metadata.clusterkv.figures),
//   as plotly HTML outputs marked data-clusterkv-figure="<id>".
// Exit status: 0 when every notebook ran and showed its figures, 1 otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const KERNEL = 'clusterkv-tslab';
const PYTHON = '/usr/bin/python3';

function parseArgs(argv) {
  const names = [];
  let out = path.join(root, 'out', 'notebooks');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = path.resolve(argv[++i]);
    else names.push(argv[i]);
  }
  return { names, out };
}

/** Writes .jupyter/share/jupyter/kernels/clusterkv-tslab/kernel.json for this checkout (idempotent). */
export function registerKernel() {
  const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
  if (!existsSync(tslab)) throw new Error(`tslab not found at ${tslab}: run npm ci`);
  const dir = path.join(root, '.jupyter', 'share', 'jupyter', 'kernels', KERNEL);
  const spec = {
    argv: ['/bin/sh', '-c', 'cd "$0" && exec "$0/node_modules/.bin/tslab" kernel --config-path "$1"', root, '{connection_file}'],
    display_name: 'TypeScript (ClusterKV Lab)',
    language: 'typescript',
  };
  const file = path.join(dir, 'kernel.json');
  const text = `${JSON.stringify(spec, null, 1)}\n`;
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, text);
    console.log(`notebooks: registered kernel ${KERNEL} in ${dir}`);
  }
  return path.join(root, '.jupyter', 'share', 'jupyter');
}

function checkJupyter() {
  // numpy: 06-export reads the exported trace from Python
  const probe = spawnSync(PYTHON, ['-c', 'import nbconvert, nbclient, jupyter_client, ipykernel, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`Debian's Jupyter or numpy is missing (${PYTHON} cannot import nbconvert/jupyter_client/ipykernel/numpy): apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-client python3-ipykernel python3-numpy`);
  }
}

/** Figure ids shown in a notebook's outputs (data-clusterkv-figure="<id>" in text/html outputs). */
export function figuresShown(nb) {
  const ids = new Set();
  for (const cell of nb.cells ?? []) {
    for (const output of cell.outputs ?? []) {
      const html = output.data?.['text/html'];
      const text = Array.isArray(html) ? html.join('') : html ?? '';
      for (const m of text.matchAll(/data-clusterkv-figure="([a-z0-9-]+)"/g)) ids.add(m[1]);
    }
  }
  return ids;
}

/**
 * Executes one notebook with nbclient (what `jupyter nbconvert --execute` runs), stopping at the first failing
 * cell, and writes the executed notebook even then, so the failing cell's output (tslab prints compile errors on
 * stderr) can be shown. Exit 0: ran; 3: a cell failed; other: could not run.
 * argv: source notebook, executed copy, kernel name, working directory.
 */
const EXECUTE_PY = `
import sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
src, dst, kernel, cwd = sys.argv[1:5]
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name=kernel, resources={'metadata': {'path': cwd}})
status = 0
try:
    client.execute()
except CellExecutionError as err:
    status = 3
    sys.stderr.write(str(err)[-2000:])
nbformat.write(nb, dst)
sys.exit(status)
`;

/** The failing cell of a notebook that stopped (the last code cell that ran): number, stderr and error output. */
function cellFailure(nb, stderr) {
  const cells = (nb.cells ?? []).map((cell, i) => ({ cell, i })).filter(({ cell }) => cell.cell_type === 'code' && cell.execution_count != null);
  const last = cells[cells.length - 1];
  if (!last) return [`no cell ran:\n    ${stderr.trim().split('\n').slice(-20).join('\n    ')}`];
  const outputs = last.cell.outputs ?? [];
  const text = (o) => (Array.isArray(o.text) ? o.text.join('') : o.text ?? '');
  const detail = [
    ...outputs.filter((o) => o.name === 'stderr').map(text),
    ...outputs.filter((o) => o.output_type === 'error').map((o) => `${o.ename}: ${o.evalue}`),
  ].join('\n').trim();
  const shown = (detail || stderr.trim()).split('\n').slice(0, 30).join('\n    ');
  return [`cell ${last.i + 1} failed:\n    ${shown}`];
}

/** Problems of an executed notebook: cell errors and figures its metadata lists that no output shows. */
export function notebookProblems(nb) {
  const problems = [];
  for (const [i, cell] of (nb.cells ?? []).entries()) {
    const errors = (cell.outputs ?? []).filter((o) => o.output_type === 'error');
    if (errors.length === 0) continue;
    const stderr = (cell.outputs ?? []).filter((o) => o.name === 'stderr').map((o) => (Array.isArray(o.text) ? o.text.join('') : o.text)).join('').trim();
    const trace = errors.map((o) => `${o.ename}: ${o.evalue}${o.traceback?.length ? `\n${o.traceback.join('\n')}` : ''}`).join('\n');
    problems.push(`cell ${i + 1} failed: ${[stderr, trace].filter(Boolean).join('\n').split('\n').slice(0, 30).join('\n    ')}`);
    break; // later errors usually follow from the first
  }
  const expected = nb.metadata?.clusterkv?.figures;
  if (!Array.isArray(expected) || expected.length === 0) problems.push('metadata.clusterkv.figures lists no figures');
  else {
    const shown = figuresShown(nb);
    for (const id of expected) if (!shown.has(id)) problems.push(`figure '${id}' is not among the outputs (shown: ${[...shown].join(', ') || 'none'})`);
  }
  return problems;
}

function main() {
  const { names, out } = parseArgs(process.argv.slice(2));
  checkJupyter();
  const jupyterPath = registerKernel();
  const all = readdirSync(path.join(root, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort();
  const chosen = names.length === 0 ? all : names.map((n) => {
    const file = all.find((f) => f === n || f === `${n}.ipynb` || f.startsWith(`${n}-`) || path.basename(n) === f);
    if (!file) throw new Error(`no notebook '${n}' in notebooks/ (have: ${all.join(', ')})`);
    return file;
  });
  mkdirSync(out, { recursive: true });
  const env = { ...process.env, JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter) };
  let failed = 0;
  const started = Date.now();
  for (const file of chosen) {
    const t0 = Date.now();
    const executed = path.join(out, file);
    const run = spawnSync(PYTHON, ['-c', EXECUTE_PY, path.join(root, 'notebooks', file), executed, KERNEL, root], { cwd: root, env, encoding: 'utf8' });
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    let problems;
    if (run.status === 0) problems = notebookProblems(JSON.parse(readFileSync(executed, 'utf8')));
    else if (existsSync(executed) && run.status === 3) problems = cellFailure(JSON.parse(readFileSync(executed, 'utf8')), run.stderr);
    else problems = [`execution failed (exit ${run.status}):\n${`${run.stderr}`.trim().split('\n').slice(-25).join('\n')}`];
    if (problems.length) {
      failed += 1;
      console.log(`FAIL ${file} (${seconds} s)\n  ${problems.join('\n  ')}`);
    } else {
      const nb = JSON.parse(readFileSync(executed, 'utf8'));
      console.log(`ok   ${file} (${seconds} s): figures ${nb.metadata.clusterkv.figures.join(', ')}`);
    }
  }
  console.log(`notebooks: ${chosen.length - failed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(0)} s; executed copies in ${path.relative(root, out) || out}`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  try {
    main();
  } catch (err) {
    console.error(`notebooks: ${err.message}`);
    process.exit(1);
  }
}
