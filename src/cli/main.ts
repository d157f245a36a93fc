#!/usr/bin/env node
/**
 * Entry point of the `clusterkv` command: the package's bin runs the build of this file (dist/cli/main.js);
 * bin/clusterkv.js runs this source through tsx (development, tests).
 */
import { runCli } from './program.js';

// A closed pipe (`clusterkv info F | head`) ends the command quietly instead of crashing it.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
