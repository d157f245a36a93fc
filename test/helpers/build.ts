/**
 * dist/ as npm ci leaves it, for tests that run the package's build (the bin, the library from another
 * project): rebuilt when a source is newer than the build stamp (an edited checkout). Test files run in
 * parallel: a lock folder lets one of them build while the others wait.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** The newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function stale(): boolean {
  const stamp = path.join(root, 'dist', '.tsbuildinfo');
  return !existsSync(stamp) || newest(path.join(root, 'src')) > statSync(stamp).mtimeMs;
}

/** Builds dist/ unless it is current; throws with the build's output when it fails. */
export async function ensureBuilt(): Promise<void> {
  const lock = path.join(root, 'dist.build-lock');
  for (;;) {
    if (!stale()) return;
    try {
      mkdirSync(lock);
    } catch {
      // another test file builds: wait for it (a lock older than 10 minutes is a crashed build's)
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 600_000) rmdirSync(lock);
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    try {
      if (!stale()) return;
      const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
      if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
      return;
    } finally {
      rmdirSync(lock);
    }
  }
}
