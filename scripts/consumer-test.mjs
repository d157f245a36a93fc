// The consumer test (issue 22): the package as a project that installs it sees it. Runs the README's install
// block (under <!-- install -->) line by line: the first line (npm pack) in this checkout, the rest in a
// fresh temporary folder T/checkout standing for the checkout, so that `..` is T (the tarball, the project
// T/my-project and T/shared, a link to the models folder next to this checkout). The project is made by
// `npm init -y`: no overrides, no dev dependencies. Then every command is checked against the same command
// run here in the checkout (node dist/cli/main.js): the same results.csv files, summary tables and library
// example output. Prints one line per step and closes with "consumer test: passed" (exit 0) or the first
// problem (exit 1).
//   node scripts/consumer-test.mjs [--keep]      (--keep leaves T for a look)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The ```sh block after `marker` in the README, as its command lines (comments after `  #` dropped). */
export function readmeBlock(readme, marker, lang) {
  const at = readme.indexOf(marker);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(readme.slice(at));
  if (at < 0 || !match) throw new Error(`README.md has no \`\`\`${lang} block after ${marker}`);
  return match[1];
}

/** The README's library example: the ```js block after <!-- library-example -->. */
export function readmeExample(readme) {
  return readmeBlock(readme, '<!-- library-example -->', 'js');
}

/** The README's install lines: the ```sh block after <!-- install -->, without comments. */
export function readmeInstall(readme) {
  return readmeBlock(readme, '<!-- install -->', 'sh').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

class ConsumerProblem extends Error {}

function fail(message) {
  throw new ConsumerProblem(message);
}

/** Runs a shell line in `cwd`; returns its output and the folder it ended in (a line may cd). */
function sh(line, cwd, env = {}) {
  const run = spawnSync('bash', ['-c', `set -euo pipefail\n${line}\nprintf '\\n%s' "$(pwd -P)"`], {
    cwd, encoding: 'utf8', env: { ...process.env, CLUSTERKV_PROGRESS: 'off', ...env }, maxBuffer: 64 << 20, timeout: 600_000,
  });
  if (run.status !== 0) fail(`\`${line}\` in ${cwd} exited ${run.status ?? run.signal}:\n${(run.stdout ?? '').slice(-2000)}${(run.stderr ?? '').slice(-4000)}`);
  const out = run.stdout;
  const cut = out.lastIndexOf('\n');
  return { stdout: out.slice(0, cut), stderr: run.stderr, cwd: out.slice(cut + 1) };
}

/** The checkout's own CLI (the build npm pack just made), run in `cwd`. */
function here(args, cwd) {
  return sh([process.execPath, path.join(root, 'dist', 'cli', 'main.js'), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' '), cwd);
}

/** Arguments of a README line `npx clusterkv ARGS` (no quoting in those lines). */
function cliArgs(line) {
  return line.replace(/^npx clusterkv\s*/, '').split(/\s+/).filter(Boolean);
}

/** A CSV without the columns that are times (they differ between any two runs). */
function withoutTimes(csv) {
  const rows = csv.trim().split('\n').map((l) => l.split(','));
  const keep = rows[0].map((name, i) => (/seconds$/i.test(name) ? -1 : i)).filter((i) => i >= 0);
  return rows.map((r) => keep.map((i) => r[i]).join(',')).join('\n');
}

/** The table a command prints: from its header line (method ...) to the first blank line; paths and times are outside it. */
function table(stdout) {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^\s*method\s/.test(l));
  if (start < 0) fail(`no table in ${JSON.stringify(stdout.slice(0, 500))}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function sameFile(a, b, what) {
  const [x, y] = [withoutTimes(readFileSync(a, 'utf8')), withoutTimes(readFileSync(b, 'utf8'))];
  if (x !== y) fail(`${what}: ${a} differs from the checkout's ${b}`);
}

function main() {
  const keep = process.argv.includes('--keep');
  const started = Date.now();
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const lines = readmeInstall(readme);
  const T = mkdtempSync(path.join(os.tmpdir(), 'ckv-consumer-'));
  const step = (what, t0) => console.log(`ok   ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  try {
    const models = path.resolve(root, '..', 'shared');
    if (!existsSync(path.join(models, 'models'))) fail(`no models folder at ${path.join(models, 'models')} (the README's commands read ../shared/models)`);
    symlinkSync(models, path.join(T, 'shared'), 'dir');
    const checkout = path.join(T, 'checkout');
    mkdirSync(checkout);
    const repo = path.join(T, 'in-checkout');
    mkdirSync(repo);

    const [pack, ...rest] = lines;
    if (!/^npm pack --pack-destination \.\.$/.test(pack)) fail(`the install block's first line must be \`npm pack --pack-destination ..\`, got \`${pack}\``);
    let t0 = Date.now();
    sh(pack.replace(/\.\.$/, `'${T}'`), root);
    const tarball = path.join(T, `${pkg.name}-${pkg.version}.tgz`);
    if (!existsSync(tarball)) fail(`npm pack wrote no ${tarball}`);
    step(`npm pack -> ${path.basename(tarball)}`, t0);

    let cwd = checkout;
    let project;
    for (const line of rest) {
      t0 = Date.now();
      if (line === 'node example.mjs') writeFileSync(path.join(cwd, 'example.mjs'), readmeExample(readme));
      const run = sh(line, cwd);
      cwd = run.cwd;
      if (line.includes('npm init')) {
        project = cwd;
        const manifest = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8'));
        if (manifest.overrides || manifest.devDependencies) fail(`${project}/package.json has overrides or dev dependencies`);
      }
      if (!project) fail(`\`${line}\` runs before the project is made (npm init)`);
      if (line.startsWith('npm install')) {
        for (const dev of Object.keys(pkg.devDependencies ?? {})) {
          if (existsSync(path.join(project, 'node_modules', dev))) fail(`the dev dependency ${dev} was installed in the project`);
        }
        const ls = sh('npm ls @uwdata/flechette --json', project);
        if (!ls.stdout.includes('"version": "2.6.0"') || ls.stdout.includes('"version": "2.7')) fail(`the project resolved another @uwdata/flechette: ${ls.stdout}`);
      }
      if (line === 'npx clusterkv --version' && run.stdout.trim() !== `clusterkv-lab ${pkg.version}`) fail(`--version printed ${JSON.stringify(run.stdout)}`);
      if (line.startsWith('npx clusterkv quickstart')) {
        const mine = here(['quickstart', '--out', path.join(repo, 'quickstart')], repo);
        if (table(run.stdout) !== table(mine.stdout)) fail(`quickstart's table differs from the checkout's:\n${table(run.stdout)}\n---\n${table(mine.stdout)}`);
        sameFile(path.join(project, 'runs', 'quickstart', 'sweep', 'results.csv'), path.join(repo, 'quickstart', 'sweep', 'results.csv'), 'quickstart');
      }
      if (line.startsWith('npx clusterkv sweep')) {
        if (line.includes('--jobs')) fail('the install block\'s sweep must use the default --jobs');
        const args = cliArgs(line).map((a) => (a.startsWith('runs/') ? path.join(project, a) : a));
        const out = args.indexOf('--out');
        args[out + 1] = path.join(repo, 'sweep');
        const mine = here([...args, '--jobs', '1'], repo);
        const execution = JSON.parse(readFileSync(path.join(project, 'runs', 'sweep', 'manifest.json'), 'utf8')).execution;
        const jobs = os.availableParallelism();
        if (jobs > 1 && (execution?.mode !== 'local' || execution.jobs !== jobs)) fail(`the sweep did not run on ${jobs} local worker processes: ${JSON.stringify(execution)}`);
        if (table(run.stdout) !== table(mine.stdout)) fail(`sweep's table differs from the checkout's:\n${table(run.stdout)}\n---\n${table(mine.stdout)}`);
        sameFile(path.join(project, 'runs', 'sweep', 'results.csv'), path.join(repo, 'sweep', 'results.csv'), 'sweep');
      }
      if (line.startsWith('npx clusterkv eval passkey')) {
        const args = cliArgs(line).map((a) => (a.startsWith('../shared/') ? path.join(T, a.slice(3)) : a));
        args[args.indexOf('--out') + 1] = path.join(repo, 'passkey');
        const mine = here(args, repo);
        const manifest = JSON.parse(readFileSync(path.join(project, 'runs', 'passkey', 'manifest.json'), 'utf8'));
        if (manifest.filler.name !== 'moby-dick' || !manifest.filler.path.includes(path.join('node_modules', 'clusterkv-lab', 'texts'))) fail(`eval passkey's filler is not the package's moby-dick: ${JSON.stringify(manifest.filler)}`);
        if (table(run.stdout) !== table(mine.stdout)) fail(`eval passkey's table differs from the checkout's:\n${table(run.stdout)}\n---\n${table(mine.stdout)}`);
        sameFile(path.join(project, 'runs', 'passkey', 'results.csv'), path.join(repo, 'passkey', 'results.csv'), 'eval passkey');
      }
      if (line === 'node example.mjs') {
        const linked = path.join(repo, 'example');
        mkdirSync(path.join(linked, 'node_modules'), { recursive: true });
        symlinkSync(root, path.join(linked, 'node_modules', pkg.name), 'dir');
        writeFileSync(path.join(linked, 'example.mjs'), readmeExample(readme));
        const mine = sh('node example.mjs', linked);
        if (run.stdout.trim() === '' || run.stdout !== mine.stdout) fail(`the library example printed ${JSON.stringify(run.stdout)}, in the checkout ${JSON.stringify(mine.stdout)}`);
      }
      step(line.length > 100 ? `${line.slice(0, 97)}...` : line, t0);
    }
    for (const need of ['npm init', 'npm install', 'npx clusterkv --version', 'npx clusterkv quickstart', 'npx clusterkv sweep', 'npx clusterkv eval passkey', 'node example.mjs']) {
      if (!rest.some((l) => l.includes(need))) fail(`the install block has no \`${need}\` line`);
    }
    console.log(`consumer test: passed, ${lines.length} lines of the README's install block in ${((Date.now() - started) / 1000).toFixed(0)} s${keep ? ` (kept ${T})` : ''}`);
  } finally {
    if (!keep) rmSync(T, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  try {
    main();
  } catch (err) {
    console.error(`consumer test: ${err instanceof ConsumerProblem ? err.message : err.stack}`);
    process.exit(1);
  }
}
