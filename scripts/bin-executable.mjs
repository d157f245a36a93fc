// After the build: the package's bin (dist/cli/main.js, built with its #!/usr/bin/env node line) executable,
// as npm expects of a bin it runs from the package's own folder (npx clusterkv after npm ci).
import { chmodSync, readFileSync } from 'node:fs';

for (const file of process.argv.slice(2)) {
  if (!readFileSync(file, 'utf8').startsWith('#!')) throw new Error(`${file} lacks a #! line`);
  chmodSync(file, 0o755);
}
